"""Readings in: validation, change-only storage, duplicates, the latest state per machine.

Every path a reading takes (webhook, batch webhook, the poll, MQTT) ends in `ingest()`.
A batch costs a fixed handful of statements whatever its size: one to lock the machines'
state rows, one to find duplicates, one to insert the changed readings, one to update the
states. Rows are never written one by one.
"""

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Integer, and_, bindparam, func, literal, select, text, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import selectinload

from app.blueprints.machines.models import Machine, MachineType
from app.core.extensions import db
from app.core.models import UTCDateTime, as_utc, utcnow
from app.realtime import publish_after_commit

from .models import MachineState, Reading
from .reactions import Observation, react

MAX_TEXT = 500
# Device clocks drift; a reading further ahead than this is refused as a bad clock.
MAX_FUTURE = timedelta(minutes=5)
TREND_POINTS = 30
# "Still reporting" updates reach the screens at most this often per machine.
SEEN_PUBLISH_EVERY = timedelta(seconds=10)


@dataclass
class IngestResult:
    stored: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)
    machine_ids: set = field(default_factory=set)

    def as_dict(self):
        return {"stored": self.stored, "unchanged": self.unchanged,
                "duplicates": self.duplicates, "rejected": len(self.rejected),
                "rejections": self.rejected}


@dataclass
class _Valid:
    machine: Machine
    ts: datetime
    values: dict


def parse_ts(raw):
    if not isinstance(raw, str):
        raise ValueError("ts must be an ISO 8601 text, e.g. 2026-11-22T10:00:00Z")
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"ts '{raw[:40]}' is not an ISO 8601 time") from None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)  # devices without a zone report UTC
    return ts.astimezone(UTC)


def _value_problem(metric, value):
    if metric.kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{metric.key} must be a number, not {type(value).__name__}"
        if not math.isfinite(value):
            return f"{metric.key} must be a finite number"
    elif metric.kind == "boolean":
        if not isinstance(value, bool):
            return f"{metric.key} must be true or false, not {type(value).__name__}"
    elif not isinstance(value, str) or len(value) > MAX_TEXT:
        return f"{metric.key} must be a text of at most {MAX_TEXT} characters"
    return None


def check_values(machine_type, values, metrics=None):
    """Reasons the values do not fit the type's metric definitions (empty: they fit).

    `metrics` (key → Metric) may be passed in so a batch builds it once per type.
    """
    if not isinstance(values, dict) or not values:
        return ["values must be an object with at least one metric"]
    if metrics is None:
        metrics = {m.key: m for m in machine_type.metrics}
    reasons = []
    for key, value in values.items():
        metric = metrics.get(key)
        if metric is None:
            reasons.append(f"unknown metric '{key}' for {machine_type.name}")
        else:
            problem = _value_problem(metric, value)
            if problem:
                reasons.append(problem)
    return reasons


def find_machines(keys):
    """Machines by our code or the vendor's id (vendors push with their own ids)."""
    keys = {str(k) for k in keys if isinstance(k, str | int) and not isinstance(k, bool)}
    if not keys:
        return {}
    upper = {k.upper() for k in keys}
    machines = db.session.scalars(
        select(Machine).where(Machine.code.in_(upper) | Machine.vendor_id.in_(keys))
        .options(selectinload(Machine.machine_type).selectinload(MachineType.metrics))).all()
    found = {}
    for machine in machines:
        found[machine.code] = machine
        if machine.vendor_id:
            found[machine.vendor_id] = machine
    return {k: found.get(k.upper()) or found.get(k) for k in keys}


def _metrics_of(machine_type, cache):
    if machine_type.id not in cache:
        cache[machine_type.id] = {m.key: m for m in machine_type.metrics}
    return cache[machine_type.id]


def _validate(index, raw, machines, now, fixed_machine, metric_cache):
    """(_Valid, None) or (None, rejection)."""
    if not isinstance(raw, dict):
        return None, {"index": index, "reasons": ["a reading must be an object"]}
    key = raw.get("machine")
    machine = fixed_machine or machines.get(str(key)) if key is not None else fixed_machine
    label = machine.code if machine else key
    if machine is None:
        return None, {"index": index, "machine": key,
                      "reasons": [f"unknown machine '{key}'" if key else "machine is missing"]}
    try:
        ts = parse_ts(raw.get("ts"))
    except ValueError as exc:
        return None, {"index": index, "machine": label, "reasons": [str(exc)]}
    if ts > now + MAX_FUTURE:
        return None, {"index": index, "machine": label,
                      "reasons": [f"ts {ts.isoformat()} is in the future; check the clock"]}
    reasons = check_values(machine.machine_type, raw.get("values"),
                           _metrics_of(machine.machine_type, metric_cache))
    if reasons:
        return None, {"index": index, "machine": label, "reasons": reasons}
    return _Valid(machine, ts, raw["values"]), None


def ingest(readings, source, machine=None, now=None, machines=None):
    """Validate and store readings; returns counts. Flushes; the caller commits.

    `machine` fixes the machine for every reading (a webhook URL names it). `machines`
    (key → Machine) resolves the readings' `machine` keys when the caller has loaded the
    machines already, as the poll has; otherwise they are looked up here.
    """
    now = now or utcnow()
    result = IngestResult()
    if machines is None:
        machines = {} if machine else find_machines(r.get("machine") for r in readings
                                                    if isinstance(r, dict))
    valid, metric_cache = [], {}
    for index, raw in enumerate(readings):
        item, rejection = _validate(index, raw, machines, now, machine, metric_cache)
        if rejection:
            result.rejected.append(rejection)
        else:
            valid.append(item)
    if valid:
        _store(valid, source, now, result)
    return result


def _store(valid, source, now, result):
    by_machine = defaultdict(list)
    for item in valid:
        by_machine[item.machine.id].append(item)
    states = _lock_states(by_machine.keys())
    known = _existing_keys(valid, states)
    rows, seen_only, observations = [], [], []
    for machine_id, items in by_machine.items():
        state = states[machine_id]
        trend_metric = items[0].machine.machine_type.trend_metric
        state.trend_key = trend_metric.key if trend_metric else None
        observation = Observation(items[0].machine, previous=dict(state.values or {}),
                                  previous_ts=as_utc(state.reading_ts) if state.reading_ts
                                  else None)
        changed = _apply(state, sorted(items, key=lambda i: i.ts), known, rows, result,
                         observation.readings)
        observation.latest = state.values
        if observation.readings:
            observations.append(observation)
        previously_seen = state.last_seen_at
        state.last_seen_at = now
        if changed:
            state.last_changed_at = now
            result.machine_ids.add(machine_id)
        elif previously_seen is None or now - as_utc(previously_seen) >= SEEN_PUBLISH_EVERY:
            seen_only.append(machine_id)
    _insert_rows(rows, source, now)
    _write_states(states.values())
    react(observations, now)
    if result.machine_ids or seen_only:
        publish_after_commit("telemetry.updated",
                             ids=sorted(result.machine_ids | set(seen_only)))


def _apply(state, items, known, rows, result, accepted):
    """Walk one machine's readings in time order against its latest values; every reading
    that is not a duplicate goes to `accepted` as (ts, values)."""
    latest = dict(state.values or {})
    latest_ts = as_utc(state.reading_ts) if state.reading_ts else None
    changed = False
    for item in items:
        key = (item.machine.id, item.ts)
        if key in known:
            result.duplicates += 1
            continue
        known.add(key)
        accepted.append((item.ts, item.values))
        if all(_same(latest, k, v) for k, v in item.values.items()):
            result.unchanged += 1
            state.readings_unchanged += 1
            continue
        rows.append({"machine_id": item.machine.id, "ts": item.ts, "values": item.values})
        result.stored += 1
        state.readings_stored += 1
        changed = True
        # A late reading is history: it must not roll the latest values back.
        if latest_ts is None or item.ts >= latest_ts:
            latest.update(item.values)
            latest_ts = item.ts
            if state.trend_key in item.values:
                state.trend = [*state.trend, item.values[state.trend_key]][-TREND_POINTS:]
    state.values = latest
    state.reading_ts = latest_ts
    return changed


def _same(latest, key, value):
    """Equal as the metric means it: 5 == 5.0, but True is not 1."""
    if key not in latest:
        return False
    old = latest[key]
    return old == value and isinstance(old, bool) == isinstance(value, bool)


def _dialect():
    return db.session.get_bind().dialect.name


def _lock_states(machine_ids):
    """The state rows of these machines, created if missing, locked until commit.

    The lock makes two deliveries for one machine take turns, so change detection always
    compares with what the other one stored.
    """
    ids = sorted(machine_ids)
    if _dialect() == "postgresql":
        # One statement: SQLAlchemy sends INSERT ... ON CONFLICT row by row (executemany).
        db.session.execute(text(
            "INSERT INTO machine_states (machine_id, values, trend, readings_stored, "
            "readings_unchanged, poll_failures) SELECT unnest(CAST(:ids AS int[])), "
            "'{}', '[]', 0, 0, 0 ON CONFLICT DO NOTHING"), {"ids": ids})
    else:
        db.session.execute(sqlite.insert(MachineState).on_conflict_do_nothing(), [
            {"machine_id": i, "values": {}, "trend": [], "readings_stored": 0,
             "readings_unchanged": 0, "poll_failures": 0} for i in ids])
    rows = db.session.execute(
        select(MachineState.machine_id, MachineState.values, MachineState.reading_ts,
               MachineState.last_seen_at, MachineState.readings_stored,
               MachineState.readings_unchanged, MachineState.trend)
        .where(MachineState.machine_id.in_(ids)).order_by(MachineState.machine_id)
        .with_for_update()).all()
    return {row.machine_id: _StateRow(*row) for row in rows}


class _StateRow:
    __slots__ = ("last_changed_at", "last_seen_at", "machine_id", "reading_ts",
                 "readings_stored", "readings_unchanged", "trend", "trend_key", "values")

    def __init__(self, machine_id, values, reading_ts, last_seen_at, stored, unchanged,
                 trend):
        self.machine_id, self.values, self.reading_ts = machine_id, values, reading_ts
        self.last_seen_at, self.last_changed_at = last_seen_at, None
        self.readings_stored, self.readings_unchanged = stored, unchanged
        self.trend, self.trend_key = list(trend or []), None


def _existing_keys(valid, states):
    """(machine_id, ts) pairs of this batch that are stored already.

    Only a reading no newer than its machine's latest stored one can be a duplicate
    (nothing newer was ever stored), so in the usual case nothing needs looking up.

    On PostgreSQL the pairs go in as two arrays joined on the key: a row-value IN list of
    thousands of pairs makes the planner expand it for every partition (minutes, not ms).
    The time bounds let it skip partitions outside the batch.
    """
    latest = {i: as_utc(st.reading_ts) for i, st in states.items() if st.reading_ts}
    pairs = sorted({(item.machine.id, item.ts) for item in valid
                    if item.machine.id in latest and item.ts <= latest[item.machine.id]})
    if not pairs:
        return set()
    low, high = min(ts for _, ts in pairs), max(ts for _, ts in pairs)
    if _dialect() == "postgresql":
        keys = select(
            func.unnest(literal([m for m, _ in pairs], ARRAY(Integer))).label("machine_id"),
            func.unnest(literal([t for _, t in pairs], ARRAY(DateTime(timezone=True))))
            .label("ts")).subquery()
        stmt = select(Reading.machine_id, Reading.ts).join(
            keys, and_(Reading.machine_id == keys.c.machine_id, Reading.ts == keys.c.ts)
        ).where(Reading.ts.between(low, high))
    else:
        stmt = select(Reading.machine_id, Reading.ts).where(
            tuple_(Reading.machine_id, Reading.ts).in_(pairs), Reading.ts.between(low, high))
    return {(machine_id, as_utc(ts)) for machine_id, ts in db.session.execute(stmt).all()}


def _insert_rows(rows, source, now):
    if not rows:
        return
    if _dialect() == "postgresql":
        # One set-based statement for the whole batch; the key still guards against a
        # concurrent delivery of the same reading.
        db.session.execute(text(
            "INSERT INTO readings (machine_id, ts, received_at, values, source) "
            "SELECT r.machine_id, r.ts, :received_at, r.values, :source "
            "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) "
            "AS r(machine_id int, ts timestamptz, values jsonb) ON CONFLICT DO NOTHING"),
            {"rows": _json([{**row, "ts": row["ts"].isoformat()} for row in rows]),
             "received_at": now, "source": source})
        return
    for row in rows:
        row["received_at"], row["source"] = now, source
    db.session.execute(sqlite.insert(Reading).on_conflict_do_nothing(), rows)


def _write_states(states):
    if _dialect() != "postgresql":
        _write_states_many(states)
        return
    params = [{"machine_id": s.machine_id, "values": s.values,
               "reading_ts": s.reading_ts.isoformat() if s.reading_ts else None,
               "last_seen_at": s.last_seen_at.isoformat(),
               "last_changed_at": s.last_changed_at.isoformat() if s.last_changed_at else None,
               "readings_stored": s.readings_stored,
               "readings_unchanged": s.readings_unchanged, "trend": s.trend}
              for s in states]
    db.session.execute(text(
        "UPDATE machine_states AS s SET values = r.values, reading_ts = r.reading_ts, "
        "last_seen_at = r.last_seen_at, "
        "last_changed_at = COALESCE(r.last_changed_at, s.last_changed_at), "
        "readings_stored = r.readings_stored, readings_unchanged = r.readings_unchanged, "
        "trend = r.trend, reachable = true, last_error = NULL "
        "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(machine_id int, values jsonb, "
        "reading_ts timestamptz, last_seen_at timestamptz, last_changed_at timestamptz, "
        "readings_stored bigint, readings_unchanged bigint, trend jsonb) "
        "WHERE s.machine_id = r.machine_id"), {"rows": _json(params)})


def _write_states_many(states):
    """Elsewhere (SQLite) one executemany, so a batch's statements stay as few."""
    table = MachineState.__table__
    db.session.connection().execute(update(table).where(
        table.c.machine_id == bindparam("id")).values(
        values=bindparam("new_values"), reading_ts=bindparam("ts"), last_seen_at=bindparam("seen"),
        last_changed_at=func.coalesce(bindparam("changed", type_=UTCDateTime()),
                                      table.c.last_changed_at),
        readings_stored=bindparam("stored"), readings_unchanged=bindparam("unchanged"),
        trend=bindparam("new_trend"), reachable=True, last_error=None), [
        {"id": s.machine_id, "new_values": s.values, "ts": s.reading_ts,
         "seen": s.last_seen_at, "changed": s.last_changed_at, "stored": s.readings_stored,
         "unchanged": s.readings_unchanged, "new_trend": s.trend} for s in states])


def _json(value):
    return json.dumps(value, separators=(",", ":"))
