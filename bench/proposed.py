"""A prototype of the ingest changes docs/PERFORMANCE.md recommends (R1–R3), to measure them.

NOT part of the app and not used by default. Importing it replaces a few functions of
app/blueprints/telemetry/ingest.py, keeping their contracts, so that

    .venv/bin/python -m bench.ingest --app bench.proposed_wsgi:app
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/floorline_proposed_test \
        .venv/bin/python -m pytest -p bench.proposed tests/telemetry ...

run the benchmark, and the app's own tests, against the proposed ingest path. It only works
on PostgreSQL (unnest, jsonb_to_recordset).

Written against b01a7a3; the app has since made the duplicate check and the metric dict
per type (R4) its own. What this prototype still does beyond the app:

1. R1 `find_machines`: two Core queries (the machines; their types' metrics) into plain
   objects instead of three ORM queries (Machine + selectinload type + metrics).
2. R2 `_lock_states`: SELECT … FOR UPDATE first and create only missing state rows (one
   INSERT … SELECT unnest … ON CONFLICT DO NOTHING): one statement per batch in the usual
   case, where the app sends the INSERT every time.
3. R3 `_insert_rows` + `_write_states` in ONE statement per batch: INSERT … SELECT FROM
   jsonb_to_recordset(…) ON CONFLICT DO NOTHING as a CTE beside UPDATE machine_states …
   FROM jsonb_to_recordset(…) (the app: the same two statements, sent apart).
4. The trend metric is looked up once per type per batch, not once per machine.

The readings' listeners (telemetry.reactions: alert rules, maintenance meters) get the
plain machines of 1. They read ids, the type and its metrics, which the plain objects have;
but raising an alert links the ORM Machine, so with rules that fire, R1 as written here
fails: a real R1 must hand the listeners ORM machines (loaded only then) or ids.

`BENCH_MACHINE_CACHE=<seconds>` adds an experiment: find_machines results kept that long.
"""

import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from app.blueprints.machines.models import MachineType
from app.blueprints.telemetry import ingest as telemetry
from app.blueprints.telemetry.reactions import Observation, react
from app.core.extensions import db
from app.core.models import as_utc
from app.realtime import publish_after_commit


class _Metric:
    __slots__ = ("id", "key", "kind", "label", "normal_max", "normal_min", "position", "role",
                 "unit")

    def __init__(self, id_, key, label, kind, role, unit, normal_min, normal_max, position):
        self.id, self.key, self.label, self.kind, self.role = id_, key, label, kind, role
        self.unit, self.normal_min, self.normal_max = unit, normal_min, normal_max
        self.position = position


class _Type:
    """What ingest and the listeners read of a machine type: name, metrics, trend metric."""

    # The same rules, on plain objects.
    trend_metric = MachineType.trend_metric
    metric = MachineType.metric
    metric_with_role = MachineType.metric_with_role

    def __init__(self, id_, name):
        self.id, self.name, self.metrics = id_, name, []


class _Machine:
    __slots__ = ("code", "id", "machine_type", "machine_type_id", "vendor_id",
                 "webhook_secret")

    def __init__(self, id_, code, vendor_id, secret, machine_type):
        self.id, self.code, self.vendor_id = id_, code, vendor_id
        self.webhook_secret, self.machine_type = secret, machine_type
        self.machine_type_id = machine_type.id


_FIND = text("""
SELECT m.id, m.code, m.vendor_id, m.webhook_secret, m.machine_type_id
FROM machines m
WHERE m.code = ANY(CAST(:codes AS text[])) OR m.vendor_id = ANY(CAST(:keys AS text[]))
""")
_TYPES = text("""
SELECT t.id, t.name, x.id, x.key, x.label, x.kind, x.role, x.unit, x.normal_min,
       x.normal_max, x.position
FROM machine_types t LEFT JOIN metrics x ON x.machine_type_id = t.id
WHERE t.id = ANY(CAST(:ids AS integer[]))
ORDER BY t.id, x.position, x.id
""")


# BENCH_MACHINE_CACHE=<seconds>: an experiment, not a recommendation as it stands: keep
# what find_machines found per key for that long (a rotated secret or an edited type would
# take that long to apply unless the cache listened to machine events).
_CACHE_SECONDS = float(os.environ.get("BENCH_MACHINE_CACHE", "0"))
_cache = {}


def find_machines(keys):
    """Machines by code or vendor id, as plain objects: two queries, no ORM."""
    keys = {str(k) for k in keys if isinstance(k, str | int) and not isinstance(k, bool)}
    if not keys:
        return {}
    if _CACHE_SECONDS:
        now = time.monotonic()
        hits = {k: _cache[k][1] for k in keys if k in _cache and _cache[k][0] > now}
        if len(hits) == len(keys):
            return hits
        found = _find_machines(keys)
        for k, machine in found.items():
            if machine is not None:
                _cache[k] = (now + _CACHE_SECONDS, machine)
        return found
    return _find_machines(keys)


def _find_machines(keys):
    rows = db.session.execute(_FIND, {"codes": sorted({k.upper() for k in keys}),
                                      "keys": sorted(keys)}).all()
    types = {}
    if rows:
        for (type_id, type_name, metric_id, key, label, kind, role, unit, low, high,
             position) in db.session.execute(_TYPES, {"ids": sorted({r[4] for r in rows})}):
            machine_type = types.get(type_id)
            if machine_type is None:
                machine_type = types[type_id] = _Type(type_id, type_name)
            if metric_id is not None:
                metric = _Metric(metric_id, key, label, kind, role, unit, low, high, position)
                machine_type.metrics.append(metric)
    found = {}
    for mid, code, vendor_id, secret, type_id in rows:
        machine = _Machine(mid, code, vendor_id, secret, types[type_id])
        found[code] = machine
        if vendor_id:
            found[vendor_id] = machine
    return {k: found.get(k.upper()) or found.get(k) for k in keys}


_STATE_COLUMNS = ("machine_id, values, reading_ts, last_seen_at, readings_stored, "
                  "readings_unchanged, trend")
_SELECT_STATES = text(f"SELECT {_STATE_COLUMNS} FROM machine_states "
                      "WHERE machine_id = ANY(CAST(:ids AS integer[])) "
                      "ORDER BY machine_id FOR UPDATE")
_CREATE_STATES = text("""
INSERT INTO machine_states (machine_id, values, trend, readings_stored, readings_unchanged,
                            poll_failures)
SELECT id, '{}', '[]', 0, 0, 0 FROM unnest(CAST(:ids AS integer[])) AS id
ON CONFLICT (machine_id) DO NOTHING
""")


def _lock_states(ids):
    rows = db.session.execute(_SELECT_STATES, {"ids": ids}).all()
    if len(rows) < len(ids):
        have = {row[0] for row in rows}
        db.session.execute(_CREATE_STATES, {"ids": [i for i in ids if i not in have]})
        rows = db.session.execute(_SELECT_STATES, {"ids": ids}).all()
    return {row[0]: telemetry._StateRow(*row) for row in rows}


# The changed readings and the new states go to PostgreSQL as two JSON documents (one
# json.dumps each, parsed in C by jsonb_to_recordset) in ONE statement: the INSERT runs as
# a data-modifying CTE beside the UPDATE.
_WRITE = text("""
WITH inserted AS (
    INSERT INTO readings (machine_id, ts, received_at, values, source)
    SELECT r.machine_id, r.ts, :now, r.values, :source
    FROM jsonb_to_recordset(CAST(:rows AS jsonb))
         AS r(machine_id integer, ts timestamptz, values jsonb)
    ON CONFLICT DO NOTHING
)
UPDATE machine_states AS s SET
    values = u.values, reading_ts = u.reading_ts, last_seen_at = u.last_seen_at,
    last_changed_at = COALESCE(u.last_changed_at, s.last_changed_at),
    readings_stored = u.stored, readings_unchanged = u.unchanged, trend = u.trend,
    reachable = true, last_error = NULL
FROM jsonb_to_recordset(CAST(:states AS jsonb))
     AS u(machine_id integer, values jsonb, reading_ts timestamptz, last_seen_at timestamptz,
          last_changed_at timestamptz, stored bigint, unchanged bigint, trend jsonb)
WHERE s.machine_id = u.machine_id
""")


def _iso(value):
    return value.isoformat() if value is not None else None


def _write(rows, states, source, now):
    db.session.execute(_WRITE, {
        "rows": json.dumps([{"machine_id": r["machine_id"], "ts": r["ts"].isoformat(),
                             "values": r["values"]} for r in rows]),
        "states": json.dumps([{
            "machine_id": s.machine_id, "values": s.values, "reading_ts": _iso(s.reading_ts),
            "last_seen_at": _iso(s.last_seen_at), "last_changed_at": _iso(s.last_changed_at),
            "stored": s.readings_stored, "unchanged": s.readings_unchanged,
            "trend": s.trend} for s in states]),
        "now": now, "source": source})


def _store(valid, source, now, result):
    """The same walk as the app's _store, with the statements above."""
    by_machine = defaultdict(list)
    for item in valid:
        by_machine[item.machine.id].append(item)
    states = _lock_states(sorted(by_machine))
    known = telemetry._existing_keys(valid, states)
    rows, seen_only, observations, trend_keys = [], [], [], {}
    for machine_id, items in by_machine.items():
        state, machine = states[machine_id], items[0].machine
        state.trend_key = _trend_key(machine.machine_type, trend_keys)
        observation = Observation(machine, previous=dict(state.values or {}),
                                  previous_ts=as_utc(state.reading_ts) if state.reading_ts
                                  else None)
        changed = telemetry._apply(state, sorted(items, key=lambda i: i.ts), known, rows,
                                   result, observation.readings)
        observation.latest = state.values
        if observation.readings:
            observations.append(observation)
        previously_seen = state.last_seen_at
        state.last_seen_at = now
        if changed:
            state.last_changed_at = now
            result.machine_ids.add(machine_id)
        elif (previously_seen is None
              or now - as_utc(previously_seen) >= telemetry.SEEN_PUBLISH_EVERY):
            seen_only.append(machine_id)
    _write(rows, states.values(), source, now)
    react(observations, now)
    if result.machine_ids or seen_only:
        publish_after_commit("telemetry.updated",
                             ids=sorted(result.machine_ids | set(seen_only)))


def _trend_key(machine_type, cache):
    """Once per type, not per machine."""
    if machine_type.id not in cache:
        trend_metric = machine_type.trend_metric
        cache[machine_type.id] = trend_metric.key if trend_metric else None
    return cache[machine_type.id]


def install():
    telemetry.find_machines = find_machines
    telemetry._store = _store


install()
