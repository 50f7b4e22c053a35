"""Other domains react to readings (alert rules, maintenance meters) through listeners.

A listener runs inside the ingest transaction, so what it writes commits with the readings
or not at all. It is called once per batch with every machine's observation, and must cost
a fixed few statements per batch, not per reading.
"""

from dataclasses import dataclass, field
from datetime import datetime

LISTENERS = []


@dataclass
class Observation:
    """What one machine reported in one batch."""

    machine: object
    # Every accepted reading (stored or unchanged, not duplicates) as (device time, values),
    # oldest first.
    readings: list = field(default_factory=list)
    previous: dict = field(default_factory=dict)     # latest values before the batch
    previous_ts: datetime | None = None              # their device time
    latest: dict = field(default_factory=dict)       # latest values after the batch


def on_readings(fn):
    """Register `fn(observations: list[Observation], now)`."""
    LISTENERS.append(fn)
    return fn


def react(observations, now):
    if not observations:
        return
    for fn in LISTENERS:
        fn(observations, now)
