"""Maintenance meters counted from telemetry: running hours and parts, per plan.

Runs inside the ingest transaction once per batch: one query loads the active metered plans
of the batch's machines, their counters move in memory, and one set-based UPDATE writes
them all (on PostgreSQL; the ORM's flush would send one UPDATE per plan, i.e. per machine).
"""

import json
from datetime import timedelta

from sqlalchemy import or_, select, text
from sqlalchemy.orm.attributes import set_committed_value

from app.blueprints.telemetry.reactions import on_readings
from app.core.extensions import db
from app.core.models import as_utc, utcnow

from .models import MaintenancePlan
from .plans import counter_metric, make_due_tasks, meters, running_metric

# A silence longer than this is not counted as running: the machine may have been off
# while the network or the poller was down.
MAX_GAP = timedelta(minutes=10)


@on_readings
def count_meters(observations, now):
    by_machine = {o.machine.id: o for o in observations}
    ids = _metered_plan_ids(list(by_machine))
    plans = db.session.scalars(select(MaintenancePlan).where(
        MaintenancePlan.id.in_(ids))).all() if ids else []
    crossed = []
    for plan in plans:
        observation = by_machine[plan.machine_id]
        was = _reached(plan, now)
        advance(plan, observation)
        if _reached(plan, now) > was:
            crossed.append(plan.id)
    _write_meters(plans)
    if crossed:
        # Do not wait for the next scheduled run: the limit was crossed just now.
        db.session.flush()
        make_due_tasks(now, plan_ids=crossed)


METERED_SQL = text(
    "SELECT id FROM maintenance_plans WHERE machine_id = ANY(CAST(:ids AS int[])) AND active "
    "AND (every_running_hours IS NOT NULL OR every_parts IS NOT NULL)")


def _metered_plan_ids(machine_ids):
    """Ids of the active metered plans of these machines. Usually there are none, and on
    PostgreSQL finding that out is one plain statement: through the ORM it was a sixth of
    the single-reading webhook's CPU (docs/PERFORMANCE.md)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return list(db.session.scalars(METERED_SQL, {"ids": machine_ids}))
    return list(db.session.scalars(select(MaintenancePlan.id).where(
        MaintenancePlan.machine_id.in_(machine_ids), MaintenancePlan.active.is_(True),
        or_(MaintenancePlan.every_running_hours.isnot(None),
            MaintenancePlan.every_parts.isnot(None)))))


# The columns advance() changes, written for every plan of the batch in one statement.
METER_COLUMNS = {"running_seconds": "float8", "parts": "int", "last_counter": "float8",
                 "last_running": "boolean", "last_reading_at": "timestamptz"}


def _write_meters(plans):
    """One UPDATE for all plans; the ORM then sees them as clean, so its flush does not
    write them again row by row. Other databases (the SQLite demo) leave it to the flush."""
    if not plans or db.session.get_bind().dialect.name != "postgresql":
        return
    stamp = utcnow()
    rows = [{"id": plan.id, **{key: getattr(plan, key) for key in METER_COLUMNS}}
            for plan in plans]
    for row in rows:
        if row["last_reading_at"] is not None:
            row["last_reading_at"] = row["last_reading_at"].isoformat()
    sets = ", ".join(f"{key} = r.{key}" for key in METER_COLUMNS)
    columns = ", ".join(f"{key} {kind}" for key, kind in METER_COLUMNS.items())
    with db.session.no_autoflush:  # an autoflush would write the plans one by one first
        db.session.execute(text(
            f"UPDATE maintenance_plans AS p SET {sets}, updated_at = :stamp "
            f"FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id int, {columns}) "
            "WHERE p.id = r.id"), {"rows": json.dumps(rows), "stamp": stamp})
    for plan in plans:
        for key in METER_COLUMNS:
            set_committed_value(plan, key, getattr(plan, key))
        set_committed_value(plan, "updated_at", stamp)


def _reached(plan, now):
    return sum(1 for m in meters(plan, now) if m.reached and m.label != "days")


def advance(plan, observation):
    """Add this batch's running time and parts to the plan's meters."""
    machine = observation.machine
    running = running_metric(machine)
    counter = counter_metric(machine)
    running_key = running.key if running else None
    counter_key = counter.key if counter else None
    last_at = as_utc(plan.last_reading_at) if plan.last_reading_at else None
    if plan.last_running is None and running_key:
        plan.last_running = _flag(observation.previous.get(running_key))
    if plan.last_counter is None and counter_key and \
            isinstance(observation.previous.get(counter_key), int | float):
        plan.last_counter = float(observation.previous[counter_key])
    for ts, values in observation.readings:
        if last_at is not None and ts <= last_at:
            continue  # counted already, or a late reading from before
        if running_key and plan.last_running and last_at is not None:
            plan.running_seconds += min(ts - last_at, MAX_GAP).total_seconds()
        if running_key and running_key in values:
            plan.last_running = _flag(values[running_key])
        if counter_key and isinstance(values.get(counter_key), int | float):
            _count_parts(plan, float(values[counter_key]))
        last_at = ts
    plan.last_reading_at = last_at


def _count_parts(plan, value):
    # A counter that goes down was reset: count on from its new value.
    if plan.last_counter is not None and value > plan.last_counter:
        plan.parts += round(value - plan.last_counter)
    plan.last_counter = value


def _flag(value):
    return bool(value) if value is not None else None
