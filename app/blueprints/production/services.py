"""Downtime and counts: what happened on a machine. Every change recomputes the OEE buckets
it falls in (oee.refresh), in the same transaction."""

from datetime import timedelta

from sqlalchemy import select

from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.models import as_utc, utcnow

from . import oee
from .models import Downtime, ProductionCount
from .setup import find_reason

# A count stamped a little ahead of our clock is a device clock running fast, not the future.
CLOCK_SLACK = timedelta(minutes=2)


def open_downtime(machine, source, reason="", issue=None, at=None):
    """Start a downtime for this source unless one from it is already open; returns it."""
    existing = open_downtime_for(machine, source, issue)
    if existing is not None:
        return existing
    downtime = Downtime(machine=machine, source=source, reason=reason[:200],
                        issue_id=issue.id if issue is not None else None,
                        started_at=at or utcnow())
    db.session.add(downtime)
    db.session.flush()
    oee.refresh([machine], downtime.started_at, max(utcnow(), downtime.started_at))
    return downtime


def open_downtime_for(machine, source, issue=None):
    stmt = select(Downtime).where(Downtime.machine_id == machine.id,
                                  Downtime.source == source, Downtime.ended_at.is_(None))
    if issue is not None:
        stmt = stmt.where(Downtime.issue_id == issue.id)
    return db.session.scalars(stmt).first()


def close_downtime(machine, source, issue=None, at=None):
    """End the open downtime of this source (and issue); returns it, or None if none."""
    downtime = open_downtime_for(machine, source, issue)
    if downtime is not None:
        downtime.ended_at = at or utcnow()
        db.session.flush()
        oee.refresh([machine], downtime.started_at, downtime.ended_at)
    return downtime


def record_downtime(machine, started_at, ended_at, reason=None, note=""):
    """A stop entered after the fact (or arriving late): recomputes the buckets it covers."""
    if started_at is None or ended_at is None or ended_at <= started_at:
        raise ValidationFailed({"ended_at": "A downtime ends after it starts."})
    if as_utc(ended_at) > utcnow() + CLOCK_SLACK:
        raise ValidationFailed({"ended_at": "A downtime cannot end in the future."})
    if reason is not None:
        reason = find_reason(reason.id, reject=False)
    downtime = Downtime(machine=machine, source="manual", started_at=started_at,
                        ended_at=ended_at, coded_reason=reason,
                        reason=(note or (reason.name if reason else ""))[:200])
    db.session.add(downtime)
    db.session.flush()
    oee.refresh([machine], downtime.started_at, downtime.ended_at)
    return downtime


def set_downtime_reason(downtime, reason_id):
    """Answer "why did it stop?": a planned reason turns the stop into a planned stop."""
    reason = find_reason(reason_id, reject=False)
    downtime.coded_reason = reason
    if not downtime.reason:
        downtime.reason = reason.name[:200]
    db.session.flush()
    oee.refresh([downtime.machine], downtime.started_at, downtime.ended_at or utcnow())
    return downtime


def record_count(machine, at, good=0, reject=0, reject_reason_id=None, product=None):
    """Pieces made up to `at`; late ones recompute the buckets they belong to."""
    errors = {}
    if good is None or good < 0:
        errors["good"] = "Good pieces are a whole number, zero or more."
    if reject is None or reject < 0:
        errors["reject"] = "Rejects are a whole number, zero or more."
    if not errors and good + reject == 0:
        errors[""] = "Enter at least one piece."
    if at is None or as_utc(at) > utcnow() + CLOCK_SLACK:
        errors["at"] = "A count cannot be in the future."
    if errors:
        raise ValidationFailed(errors)
    reason = None
    if reject_reason_id:
        reason = find_reason(reject_reason_id, reject=True)
    count = ProductionCount(machine=machine, at=at, good=good, reject=reject,
                            reject_reason=reason, product=product)
    db.session.add(count)
    db.session.flush()
    oee.refresh([machine], count.at)
    return count


def counter_delta(previous, current, rollover=None):
    """Pieces between two readings of a machine's part counter, never negative.

    The counter only grows; when it drops it was reset (a new shift, a power cycle) or it
    wrapped past `rollover`, its largest value. A drop from the top tenth of the range is a
    wrap (the pieces up to the top, then from zero); any other drop a reset (the pieces
    since zero). No previous reading: nothing can be said yet, 0.
    """
    if previous is None or current is None:
        return 0
    previous, current = int(previous), int(current)
    if current >= previous:
        return current - previous
    if rollover and previous >= 0.9 * rollover:
        return rollover - previous + 1 + current
    return max(current, 0)


def record_counter_readings(machine, readings, previous=None, rollover=None, product=None):
    """Counts from part-counter readings [(at, value), ...] in time order, as good pieces.
    `previous` is the counter's value before the first of them."""
    counts = []
    for at, value in readings:
        delta = counter_delta(previous, value, rollover)
        previous = value
        if delta > 0:
            counts.append(record_count(machine, at, good=delta, product=product))
    return counts
