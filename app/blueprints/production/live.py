"""Production's committed events as JSON for the API's socket (/api/v1/ws).

- `production.oee_changed` (oee.refresh, once per commit): the machines and lines whose
  stored buckets were recomputed, and the time range. It becomes `oee_update` events: one
  per line and one per machine, each with the stored buckets of the range.
- `production.downtime_changed` (every flush that adds a downtime, ends one or sets its
  reason, whichever path wrote it): it becomes `downtime_event` events.

Operators get the events of the machines they work at (and of the lines those are on).
"""

from datetime import datetime

from flask_sqlalchemy.session import Session
from sqlalchemy import event, inspect, select

from app.blueprints.machines.live import line_ref, machine_ref
from app.blueprints.machines.models import Line, Machine
from app.blueprints.machines.services import can_see_machine, visible_machines
from app.core.extensions import db
from app.core.models import as_utc
from app.realtime import publish_after_commit, take_pending
from app.realtime.json_events import JsonEvent, live_json

from .models import Downtime, OeeCalculation

# An event carries at most this many buckets per line or machine (the newest); a wide
# recompute (a calendar edit) says so with `truncated`, the REST series has them all.
EVENT_BUCKETS = 48
OEE_EVENT = "production.oee_changed"
DOWNTIME_EVENT = "production.downtime_changed"


# --- what a bucket and a downtime look like as JSON (the REST API shows the same) ----------

def losses(row):
    """The loss waterfall of a stored bucket in seconds; null figures where the ratio they
    need is unknown (no planned time, or performance unknown)."""
    if not row.planned:
        return None
    net = row.run_seconds * row.performance if row.performance is not None else None
    quality = row.quality if row.quality is not None else 1.0
    return {"planned_seconds": row.planned_seconds,
            "availability_loss_seconds": row.downtime_seconds,
            "run_seconds": row.run_seconds,
            "performance_loss_seconds": None if net is None else row.run_seconds - net,
            "net_run_seconds": net,
            "quality_loss_seconds": None if net is None else net * (1 - quality),
            "fully_productive_seconds": None if net is None else net * quality}


def bucket_json(row):
    """One stored `oee_calculations` row: ratios null and `no_planned_production` true when
    nothing was planned (never 0 %)."""
    return {"period": row.period, "start": row.starts_at, "end": row.ends_at,
            "label": row.label, "no_planned_production": not row.planned,
            "availability": row.availability, "performance": row.performance,
            "quality": row.quality, "oee": row.oee,
            "performance_over_100": row.performance_over,
            "planned_seconds": row.planned_seconds,
            "planned_stop_seconds": row.planned_stop_seconds,
            "downtime_seconds": row.downtime_seconds,
            "small_stop_seconds": row.small_stop_seconds, "run_seconds": row.run_seconds,
            "ideal_seconds": row.ideal_seconds, "total_count": row.total_count,
            "good_count": row.good_count, "reject_count": row.reject_count,
            "unrated_count": row.unrated_count, "losses": losses(row),
            "computed_at": row.computed_at}


def downtime_json(downtime, action):
    reason = downtime.coded_reason
    return {"id": downtime.id, "action": action, "machine": machine_ref(downtime.machine),
            "started_at": downtime.started_at, "ended_at": downtime.ended_at,
            "source": downtime.source, "note": downtime.reason,
            "reason": None if reason is None else {
                "id": reason.id, "name": reason.name, "loss": reason.loss,
                "planned": reason.planned}}


# --- publishing -----------------------------------------------------------------------------

def announce_oee(machines, start, end):
    """Queue (or widen) this transaction's one `production.oee_changed` event."""
    queued = take_pending(OEE_EVENT) or {}
    machine_ids = set(queued.get("machine_ids", [])) | {m.id for m in machines}
    line_ids = set(queued.get("line_ids", [])) | {m.line_id for m in machines if m.line_id}
    # UTC ISO texts of one format: they sort as the times do.
    starts = [as_utc(start).isoformat(), *([queued["start"]] if queued else [])]
    ends = [as_utc(end).isoformat(), *([queued["end"]] if queued else [])]
    publish_after_commit(OEE_EVENT, machine_ids=sorted(machine_ids),
                         line_ids=sorted(line_ids), start=min(starts), end=max(ends))


def _downtime_action(downtime, new):
    if new:
        return "recorded" if downtime.ended_at is not None else "opened"
    attrs = inspect(downtime).attrs
    if attrs.ended_at.history.has_changes() and downtime.ended_at is not None:
        return "closed"
    if attrs.reason_id.history.has_changes() or attrs.coded_reason.history.has_changes():
        return "reason_set"
    return None


def _on_flush(session, _context):
    """Every downtime written in this flush that started, ended or got its reason."""
    changes = [(d, True) for d in session.new if isinstance(d, Downtime)]
    changes += [(d, False) for d in session.dirty if isinstance(d, Downtime)]
    for downtime, new in changes:
        action = _downtime_action(downtime, new)
        if action is not None:
            publish_after_commit(DOWNTIME_EVENT, id=downtime.id, action=action)


if not event.contains(Session, "after_flush", _on_flush):
    event.listen(Session, "after_flush", _on_flush)


# --- JSON events ------------------------------------------------------------------------------

def _rows(start, end, **where):
    rows = db.session.scalars(select(OeeCalculation).filter_by(**where).where(
        OeeCalculation.starts_at <= end, OeeCalculation.ends_at > start)
        .order_by(OeeCalculation.starts_at.desc(), OeeCalculation.period)
        .limit(EVENT_BUCKETS + 1)).all()
    return [bucket_json(r) for r in rows[:EVENT_BUCKETS]], len(rows) > EVENT_BUCKETS


def _oee_data(line, machine, start, end, **where):
    buckets, truncated = _rows(start, end, **where)
    return {"line": line_ref(line), "machine": machine_ref(machine) if machine else None,
            "start": start, "end": end, "buckets": buckets, "truncated": truncated}


@live_json(OEE_EVENT)
def oee_update(message, user):
    """The stored buckets a commit recomputed: one event per line, one per machine."""
    start, end = (datetime.fromisoformat(message[k]) for k in ("start", "end"))
    machines = db.session.scalars(visible_machines(user).where(
        Machine.id.in_(message.get("machine_ids", [])))).all()
    seen_lines = {m.line_id for m in machines}
    for line_id in message.get("line_ids", []):
        line = db.session.get(Line, line_id)
        if line is not None and line_id in seen_lines:
            yield JsonEvent("oee_update", _oee_data(line, None, start, end, line_id=line_id,
                                                    machine_id=None), None, line_id)
    for machine in machines:
        yield JsonEvent("oee_update", _oee_data(machine.line, machine, start, end,
                                                machine_id=machine.id),
                        machine.id, machine.line_id)


@live_json(DOWNTIME_EVENT)
def downtime_event(message, user):
    """A downtime opened, closed, entered afterwards or given its reason."""
    downtime = db.session.get(Downtime, message.get("id"))
    if downtime is None or not can_see_machine(user, downtime.machine):
        return None
    return [JsonEvent("downtime_event", downtime_json(downtime, message["action"]),
                      downtime.machine_id, downtime.machine.line_id)]
