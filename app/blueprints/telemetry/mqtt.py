"""What MQTT messages mean: readings of the machine their topic names (docs/mqtt.md).

The adapter (app/integrations/mqtt.py) talks to the broker and parses each message into
the topic's machine key and its raw readings. store_messages() takes a batch of them,
resolves the machines in one query, hands every reading to ingest() in one call (the
set-based path) and says what happened, so the adapter can count and log it.
"""

from dataclasses import dataclass, field

from app.blueprints.machines.lookup import machine_lookup

from .ingest import find_machines, ingest

SOURCE = "mqtt"


@dataclass(frozen=True)
class Rejection:
    message: int  # the message's position in the batch
    kind: str  # unknown_machine, machine_mismatch or invalid (docs/mqtt.md)
    reason: str
    index: int | None = None  # the reading's position in its message; None: all of them
    readings: int = 1


@dataclass
class Outcome:
    readings: int = 0  # handed to ingest()
    stored: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)


def store_messages(messages):
    """Store a batch of (machine key, [raw reading, ...]); returns an Outcome.

    Flushes; the caller commits.
    """
    keys = _machine_keys(messages)
    machines = find_machines(keys)
    if None in machines.values():  # maybe a machine the process has not seen yet
        machines = find_machines(keys, machine_lookup().fresh())
    outcome = Outcome()
    readings, origins = _assign(messages, machines, outcome.rejected)
    if not readings:
        return outcome
    result = ingest(readings, source=SOURCE)
    outcome.readings = len(readings)
    outcome.stored, outcome.unchanged = result.stored, result.unchanged
    outcome.duplicates = result.duplicates
    for rejection in result.rejected:
        message, index = origins[rejection["index"]]
        outcome.rejected.append(Rejection(message, "invalid", "; ".join(rejection["reasons"]),
                                          index))
    return outcome


def _assign(messages, machines, rejected):
    """The readings tagged with the topic's machine, and (message, index) of each."""
    readings, origins = [], []
    for position, (key, raws) in enumerate(messages):
        machine = machines.get(key)
        if machine is None:
            rejected.append(Rejection(position, "unknown_machine", f"unknown machine '{key}'",
                                      readings=len(raws)))
            continue
        for index, raw in enumerate(raws):
            problem = _disagreement(raw, machine, machines)
            if problem:
                rejected.append(Rejection(position, "machine_mismatch", problem, index))
                continue
            readings.append(dict(raw, machine=machine.code) if isinstance(raw, dict) else raw)
            origins.append((position, index))
    return readings, origins


def _key(value):
    """A machine key as find_machines() takes it: text, or a vendor's numeric id."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _machine_keys(messages):
    keys = {key for key, _ in messages}
    keys.update(_key(raw.get("machine")) for _, raws in messages for raw in raws
                if isinstance(raw, dict))
    keys.discard(None)
    return keys


def _disagreement(raw, machine, machines):
    """Why a reading's own "machine" field contradicts the topic (None: it agrees or is absent)."""
    if not isinstance(raw, dict) or raw.get("machine") is None:
        return None
    named = machines.get(_key(raw["machine"]))
    if named is None or named.id != machine.id:
        return f"the reading names machine '{raw['machine']}' but the topic names {machine.code}"
    return None
