"""Stored readings one at a time: find them, and correct or delete one (admins only), each
change recorded in `reading_corrections` with who, when, the values before and after, and
the reason. Readings are evidence, so nothing here changes one silently.

The machine's latest state stays what ingest would have made of the remaining readings:
for each metric the corrected or deleted reading carried, the state takes the value of the
newest stored reading that has it (one index-ordered lookup per metric), so correcting
or deleting the latest reading shows on the screens, and an older one leaves them alone.
Alert rules and meters are not run again: what they raised stays, with its own history.
The roll-ups of the reading's hour onward are redone by the next roll-up run.
"""

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from app.blueprints.auth import roles
from app.blueprints.machines.models import Machine
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import as_utc, utcnow
from app.realtime import publish_after_commit

from . import rollups
from .ingest import TREND_POINTS, check_values
from .models import MachineState, Reading, ReadingCorrection

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REASON_MAX = 1000
CORRECTORS = frozenset({roles.ADMIN})


def reading_key(machine_id, ts):
    """A reading's id for URLs: `<machine id>-<device time in µs since 1970>`."""
    delta = as_utc(ts) - EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{machine_id}-{micros}"


def parse_reading_key(key):
    """(machine id, device time) of a reading id, or None when it is not one."""
    machine, sep, micros = (key or "").partition("-")
    digits = micros.removeprefix("-")  # a device clock set before 1970
    if not sep or not machine.isdigit() or not digits.isdigit() or len(digits) > 17 \
            or len(machine) > 10 or not 0 < int(machine) < 2**31:
        return None
    try:
        return int(machine), EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:
        return None


def find_reading(machine_id, ts):
    return db.session.get(Reading, (machine_id, ts))


def readings_between(machine_ids, start=None, end=None):
    """A select of these machines' stored readings in [start, end): the key's own order,
    so the database reads the primary-key index of only the months in range."""
    stmt = select(Reading).where(Reading.machine_id.in_(machine_ids))
    if start is not None:
        stmt = stmt.where(Reading.ts >= start)
    if end is not None:
        stmt = stmt.where(Reading.ts < end)
    return stmt


def corrections_of(machine_id, ts):
    return db.session.scalars(
        select(ReadingCorrection).where(ReadingCorrection.machine_id == machine_id,
                                        ReadingCorrection.ts == ts)
        .order_by(ReadingCorrection.id)).all()


def _check(user, reason):
    if user.role not in CORRECTORS:
        raise Forbidden("Only administrators correct or delete stored readings.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Say why the reading is changed; it is recorded."})
    if len(reason) > REASON_MAX:
        raise ValidationFailed({"reason": f"At most {REASON_MAX} characters."})
    return reason


def _record(user, reading, action, after, reason):
    rollups.reroll_from(reading.machine_id, reading.ts)
    db.session.add(ReadingCorrection(machine_id=reading.machine_id, ts=reading.ts,
                                     action=action, before=dict(reading.values), after=after,
                                     reason=reason, actor=user, at=utcnow()))


def correct_reading(user, reading, values, reason):
    """Replace a stored reading's values (checked as ingest checks them); recorded."""
    reason = _check(user, reason)
    problems = check_values(db.session.get(Machine, reading.machine_id).machine_type, values)
    if problems:
        raise ValidationFailed({"values": "; ".join(problems)})
    if values == reading.values:
        raise ValidationFailed({"values": "These are the values the reading has already."})
    state = _locked_state(reading.machine_id)
    _record(user, reading, "corrected", dict(values), reason)
    keys = set(reading.values) | set(values)
    reading.values = dict(values)
    db.session.flush()
    _refresh_state(state, reading.machine_id, keys)
    return reading


def delete_reading(user, reading, reason):
    """Remove a stored reading; its values stay in the record."""
    reason = _check(user, reason)
    state = _locked_state(reading.machine_id)
    _record(user, reading, "deleted", None, reason)
    keys = set(reading.values)
    machine_id = reading.machine_id
    db.session.delete(reading)
    db.session.flush()
    if state is not None:
        state.readings_stored = max((state.readings_stored or 0) - 1, 0)
    _refresh_state(state, machine_id, keys)


def _locked_state(machine_id):
    """The machine's state row, locked as ingest locks it, so the two take turns."""
    return db.session.get(MachineState, machine_id, with_for_update=True)


def _has_key(key):
    return Reading.values.op("?")(key)


def _newest_with(machine_id, key):
    return db.session.execute(
        select(Reading.values[key]).where(Reading.machine_id == machine_id,
                                          _has_key(key))
        .order_by(Reading.ts.desc()).limit(1)).scalar()


def _refresh_state(state, machine_id, keys):
    """The latest values of `keys`, the newest reading time and the sparkline, from the
    readings that remain."""
    if state is None:
        return
    values = dict(state.values or {})
    for key in sorted(keys):
        value = _newest_with(machine_id, key)
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    state.values = values
    state.reading_ts = db.session.scalar(
        select(func.max(Reading.ts)).where(Reading.machine_id == machine_id))
    trend_metric = state.machine.machine_type.trend_metric
    if trend_metric is not None and trend_metric.key in keys:
        state.trend = _trend(machine_id, trend_metric.key)
    db.session.flush()
    publish_after_commit("telemetry.updated", ids=[machine_id])


def _trend(machine_id, key):
    rows = db.session.execute(
        select(Reading.values[key]).where(Reading.machine_id == machine_id,
                                          _has_key(key))
        .order_by(Reading.ts.desc()).limit(TREND_POINTS)).scalars().all()
    return rows[::-1]
