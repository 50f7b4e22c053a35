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

import orjson
from sqlalchemy import DateTime, Integer, and_, bindparam, func, literal, select, text, tuple_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from app.blueprints.machines.lookup import (
    MachineInfo,
    current_version,
    machine_lookup,
    remember_versions,
)
from app.blueprints.machines.models import Machine, RegistryVersion
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


def find_machines(keys, snapshot=None):
    """Machines (MachineInfo, lookup.py) by our code or the vendor's id (vendors push with
    their own ids), from the process's registry snapshot: no query."""
    snapshot = snapshot or machine_lookup().get()
    return {str(k): snapshot.find(k) for k in keys
            if isinstance(k, str | int) and not isinstance(k, bool)}


def _metrics_of(machine_type, cache):
    by_key = getattr(machine_type, "by_key", None)  # a TypeInfo has its dict already
    if by_key is not None:
        return by_key
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


class RegistryChanged(Exception):
    """The machine registry changed since the snapshot the readings were checked against;
    nothing was written. Check again with a fresh snapshot."""


def ingest(readings, source, machine=None, now=None, machines=None, checked=False):
    """Validate and store readings; returns counts. Writes in the session; the caller commits.

    `machine` fixes the machine for every reading (a webhook URL names it); a registry
    change since it was looked up raises RegistryChanged (the caller checked its secret
    against that snapshot, so it must look again). `machines` (key → machine) resolves the
    readings' `machine` keys when the caller loaded them in this transaction; otherwise the
    process's registry snapshot does, re-checked here if it turns out stale. `checked`:
    the caller read `machine` from the registry in this transaction (no version check).
    """
    now = now or utcnow()
    lookup = machine_lookup()
    # Machines the caller passed as rows (not from the snapshot) were read in this
    # transaction: nothing to check.
    snapshot = lookup.get()
    checked = checked or machines is not None or (
        machine is not None and not isinstance(machine, MachineInfo))
    for _attempt in range(3):
        if machines is None and machine is None:
            keys = (r.get("machine") for r in readings if isinstance(r, dict))
            found = find_machines(keys, snapshot)
        else:
            found = machines or {}
        result, valid = _validate_all(readings, found, now, machine)
        if result.rejected and not checked and machine is None:
            # An unknown machine or metric may be one the snapshot has not seen yet.
            checked, old = True, snapshot
            snapshot = lookup.fresh()
            if snapshot is not old:
                continue
        if not valid:
            return result
        if _store(valid, source, now, result, None if checked else snapshot.version):
            return result
        if machine is not None:
            raise RegistryChanged()
        snapshot, checked = lookup.reload(), True
    raise RegistryChanged()


def _validate_all(readings, machines, now, machine):
    result, valid, metric_cache = IngestResult(), [], {}
    for index, raw in enumerate(readings):
        item, rejection = _validate(index, raw, machines, now, machine, metric_cache)
        if rejection:
            result.rejected.append(rejection)
        else:
            valid.append(item)
    return result, valid


def _store(valid, source, now, result, version):
    """Write the valid readings; False (nothing written) if the registry is no longer at
    `version` (None: the caller checked it in this transaction)."""
    by_machine = defaultdict(list)
    for item in valid:
        by_machine[item.machine.id].append(item)
    if _dialect() == "postgresql" and all(len(items) == 1 for items in by_machine.values()):
        done = _store_latest(by_machine, source, now, result, version)
    else:
        done = _store_in_order(by_machine, valid, source, now, result, version)
    if done:
        react(done[0], now)
        if done[1]:
            publish_after_commit("telemetry.updated", ids=sorted(done[1]))
    return done is not None


def _store_in_order(by_machine, valid, source, now, result, version):
    """Several readings of a machine (or SQLite): lock the states, walk each machine's
    readings in time order in Python, then write. (observations, ids to publish) or None."""
    states = _lock_states(by_machine.keys(), version)
    if states is None:
        return None
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
    _write(rows, states.values(), source, now)
    return observations, result.machine_ids | set(seen_only)


# The whole write of readings that name each machine once, in one statement: check the
# registry version, lock the states, tell duplicates (the latest reading's time, or a late
# reading already stored) and unchanged values (the state's values contain the reading's:
# 5 = 5.0 but true ≠ 1, as _same) from changes, insert the changed readings, move the states
# (a late reading is history: it never rolls the latest values back) and return what each
# machine was before, for the listeners. Machines without a state row yet come back with
# `machine_id` null; the caller creates their rows and sends them again.
LATEST_SQL = text("""
WITH v AS (
  SELECT COALESCE(jsonb_object_agg(name, version), '{}') AS versions FROM registry_versions
), ok AS (
  SELECT CAST(:version AS bigint) IS NULL
    OR COALESCE((versions ->> 'machines')::bigint, 0) = CAST(:version AS bigint) AS ok,
    versions FROM v
), r AS (
  SELECT r.* FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r(machine_id int, ts timestamptz, values jsonb, trend_key text)
  WHERE (SELECT ok FROM ok)
), old AS (
  SELECT s.machine_id, s.values, s.reading_ts, s.last_seen_at FROM machine_states s
  WHERE s.machine_id IN (SELECT machine_id FROM r) ORDER BY s.machine_id FOR UPDATE
), c AS (
  SELECT r.machine_id, r.ts, r.values, r.trend_key, o.values AS old_values,
         o.reading_ts AS old_ts, o.last_seen_at AS old_seen,
         o.reading_ts IS NOT NULL AND (r.ts = o.reading_ts OR (r.ts < o.reading_ts
           AND EXISTS (SELECT 1 FROM readings x WHERE x.machine_id = r.machine_id
                       AND x.ts = r.ts))) AS dup,
         o.values @> r.values AS same,
         o.reading_ts IS NULL OR r.ts > o.reading_ts AS newer
  FROM r JOIN old o ON o.machine_id = r.machine_id
), ins AS (
  INSERT INTO readings (machine_id, ts, received_at, values, source)
  SELECT machine_id, ts, :now, values, :source FROM c WHERE NOT dup AND NOT same
  ON CONFLICT DO NOTHING RETURNING machine_id
), upd AS (
  UPDATE machine_states s SET
    values = CASE WHEN c.newer AND NOT c.dup AND NOT c.same
                  THEN s.values || c.values ELSE s.values END,
    reading_ts = CASE WHEN c.newer AND NOT c.dup AND NOT c.same THEN c.ts
                      ELSE s.reading_ts END,
    trend = CASE WHEN c.newer AND NOT c.dup AND NOT c.same AND c.values ? c.trend_key
      THEN (SELECT COALESCE(jsonb_agg(e ORDER BY i), '[]'::jsonb)
            FROM jsonb_array_elements(s.trend || jsonb_build_array(c.values -> c.trend_key))
                 WITH ORDINALITY AS t(e, i)
            WHERE i > jsonb_array_length(s.trend) + 1 - :trend_points)
      ELSE s.trend END,
    last_seen_at = :now,
    last_changed_at = CASE WHEN NOT c.dup AND NOT c.same THEN :now
                           ELSE s.last_changed_at END,
    readings_stored = s.readings_stored + (NOT c.dup AND NOT c.same)::int,
    readings_unchanged = s.readings_unchanged + (NOT c.dup AND c.same)::int,
    reachable = true, last_error = NULL
  FROM c WHERE s.machine_id = c.machine_id
  RETURNING s.machine_id, s.values
)
SELECT ok.ok, ok.versions, c.machine_id, c.dup, c.same, c.old_values, c.old_ts, c.old_seen,
       upd.values AS new_values
FROM ok LEFT JOIN (c JOIN upd ON upd.machine_id = c.machine_id) ON true
""")


def _store_latest(by_machine, source, now, result, version):
    """One reading per machine, on PostgreSQL: LATEST_SQL. (observations, ids) or None."""
    items = {machine_id: items[0] for machine_id, items in by_machine.items()}
    rows = _run_latest(items, source, now, version)
    if rows is None:
        return None
    missing = items.keys() - {row.machine_id for row in rows}
    if missing:  # first readings of these machines: give them a state row, then write
        _create_states(missing)
        rows += _run_latest({i: items[i] for i in missing}, source, now, None)
    observations, publish = [], set()
    for row in rows:
        item = items[row.machine_id]
        if row.dup:
            result.duplicates += 1
            continue
        previous_ts = as_utc(row.old_ts) if row.old_ts else None
        observations.append(Observation(item.machine, [(item.ts, item.values)],
                                        dict(row.old_values or {}), previous_ts,
                                        row.new_values))
        if row.same:
            result.unchanged += 1
            if row.old_seen is None or now - as_utc(row.old_seen) >= SEEN_PUBLISH_EVERY:
                publish.add(row.machine_id)
        else:
            result.stored += 1
            result.machine_ids.add(row.machine_id)
            publish.add(row.machine_id)
    return observations, publish


def _run_latest(items, source, now, version):
    params = []
    for machine_id, item in items.items():
        trend = item.machine.machine_type.trend_metric
        params.append({"machine_id": machine_id, "ts": item.ts,
                       "values": item.values, "trend_key": trend.key if trend else None})
    rows = db.session.execute(LATEST_SQL, {
        "rows": _json(params), "now": now, "source": source, "version": version,
        "trend_points": TREND_POINTS}).all()
    if not rows[0].ok:
        return None
    remember_versions(rows[0].versions)
    return [row for row in rows if row.machine_id is not None]


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


def _lock_states(machine_ids, version):
    """The state rows of these machines, created if missing, locked until commit; None if
    the registry is no longer at `version` (None: already checked).

    The lock makes two deliveries for one machine take turns, so change detection always
    compares with what the other one stored.
    """
    ids = sorted(machine_ids)
    states = _select_states(ids, version)
    if len(states) < len(ids):
        if not states and version is not None and current_version() != version:
            return None
        _create_states(set(ids) - states.keys())
        states = _select_states(ids, None)
    return states


SELECT_STATES_SQL = text("""
SELECT machine_id, values, reading_ts, last_seen_at, readings_stored, readings_unchanged,
       trend FROM machine_states
WHERE machine_id = ANY(CAST(:ids AS int[])) AND (CAST(:version AS bigint) IS NULL OR COALESCE((
  SELECT version FROM registry_versions WHERE name = 'machines'), 0)
  = CAST(:version AS bigint))
ORDER BY machine_id FOR UPDATE
""")


def _select_states(ids, version):
    if _dialect() == "postgresql":  # one array parameter, not a 500-element IN list
        rows = db.session.execute(SELECT_STATES_SQL, {"ids": ids, "version": version})
        return {row[0]: _StateRow(*row) for row in rows}
    stmt = (select(MachineState.machine_id, MachineState.values, MachineState.reading_ts,
                   MachineState.last_seen_at, MachineState.readings_stored,
                   MachineState.readings_unchanged, MachineState.trend)
            .where(MachineState.machine_id.in_(ids)).order_by(MachineState.machine_id)
            .with_for_update())
    if version is not None:
        stmt = stmt.where(func.coalesce(select(RegistryVersion.version).where(
            RegistryVersion.name == "machines").scalar_subquery(), 0) == version)
    return {row.machine_id: _StateRow(*row) for row in db.session.execute(stmt)}


def _create_states(machine_ids):
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


def _write(rows, states, source, now):
    """The changed readings and the moved states, in one statement on PostgreSQL."""
    if _dialect() != "postgresql":
        if rows:
            for row in rows:
                row["received_at"], row["source"] = now, source
            db.session.execute(sqlite.insert(Reading).on_conflict_do_nothing(), rows)
        _write_states_many(states)
        return
    params = [{"machine_id": s.machine_id, "values": s.values, "reading_ts": s.reading_ts,
               "last_seen_at": s.last_seen_at, "last_changed_at": s.last_changed_at,
               "readings_stored": s.readings_stored,
               "readings_unchanged": s.readings_unchanged, "trend": s.trend}
              for s in states]
    # The key still guards the readings against a concurrent delivery of the same one.
    db.session.execute(WRITE_SQL, {
        "rows": _json(rows),
        "states": _json(params), "received_at": now, "source": source})


WRITE_SQL = text("""
WITH ins AS (
  INSERT INTO readings (machine_id, ts, received_at, values, source)
  SELECT r.machine_id, r.ts, :received_at, r.values, :source
  FROM jsonb_to_recordset(CAST(:rows AS jsonb))
    AS r(machine_id int, ts timestamptz, values jsonb)
  ON CONFLICT DO NOTHING RETURNING 1
)
UPDATE machine_states AS s SET values = r.values, reading_ts = r.reading_ts,
  last_seen_at = r.last_seen_at,
  last_changed_at = COALESCE(r.last_changed_at, s.last_changed_at),
  readings_stored = r.readings_stored, readings_unchanged = r.readings_unchanged,
  trend = r.trend, reachable = true, last_error = NULL
FROM jsonb_to_recordset(CAST(:states AS jsonb)) AS r(machine_id int, values jsonb,
  reading_ts timestamptz, last_seen_at timestamptz, last_changed_at timestamptz,
  readings_stored bigint, readings_unchanged bigint, trend jsonb)
WHERE s.machine_id = r.machine_id
""")


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
    """JSON text for a statement's parameter: orjson writes the datetimes itself and is
    several times faster than json on a batch's rows (a fifth of a batch's CPU with json);
    json (with isoformat) only for what orjson refuses, e.g. an integer over 64 bits."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"), default=_isoformat)


def _isoformat(value):
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
