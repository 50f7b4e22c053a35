"""What people do with alerts (acknowledge, comment, close) and the lists."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, false, func, select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Machine
from app.blueprints.notifications.services import people_of_machine
from app.core.badges import badge_counter, publish_badges
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import utcnow
from app.realtime import publish_after_commit

from .access import can_acknowledge, can_close, can_comment
from .models import SEVERITIES, Alert, AlertCondition, AlertEvent

STATE_FILTERS = (("open", "Open"), ("active", "Active"), ("cleared", "Cleared"),
                 ("unacknowledged", "Not acknowledged"), ("closed", "Closed"), ("all", "All"))
MAX_COMMENT = 2000


def _changed(alert, badges=True):
    publish_after_commit("alert.changed", id=alert.id, machine_id=alert.machine_id)
    if badges:
        publish_badges("alerts", user_ids={u.id for u in people_of_machine(alert.machine)})


def _record(alert, actor, kind, detail):
    db.session.add(AlertEvent(alert=alert, actor=actor, kind=kind, detail=detail,
                              at=utcnow()))


def acknowledge_alert(alert, actor):
    if not can_acknowledge(actor, alert):
        raise Forbidden()
    if not alert.is_open:
        raise ValidationFailed("This alert is closed already.")
    if alert.acknowledged_at is not None:
        raise ValidationFailed(f"{alert.acknowledged_by.display_name} acknowledged this "
                               "alert already.")
    alert.acknowledged_at, alert.acknowledged_by = utcnow(), actor
    _record(alert, actor, "acknowledged", "Acknowledged")
    db.session.flush()
    _changed(alert)
    return alert


def comment_on_alert(alert, actor, text):
    if not can_comment(actor, alert):
        raise Forbidden()
    text = (text or "").strip()
    if not text:
        raise ValidationFailed({"text": "Write a comment first."})
    if len(text) > MAX_COMMENT:
        raise ValidationFailed({"text": f"Keep a comment under {MAX_COMMENT} characters."})
    _record(alert, actor, "commented", text)
    db.session.flush()
    _changed(alert, badges=False)
    return alert


def close_alert(alert, actor, note=""):
    """Managers mark an alert done; a later problem opens a new alert."""
    if not can_close(actor, alert):
        raise Forbidden()
    if not alert.is_open:
        raise ValidationFailed("This alert is closed already.")
    note = (note or "").strip()
    alert.closed_at, alert.closed_by, alert.close_note = utcnow(), actor, note
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = alert.closed_at, actor
    _record(alert, actor, "closed", "Closed" + (f": {note}" if note else ""))
    # A condition that still holds starts afresh: the next alert comes only after the
    # rule's sustained time, not with the very next reading.
    db.session.execute(delete(AlertCondition).where(AlertCondition.rule_id == alert.rule_id,
                                                    AlertCondition.machine_id == alert.machine_id))
    db.session.flush()
    _changed(alert)
    return alert


def record_task(alert, actor, task):
    """Note on the alert's history that `actor` made maintenance task `task` from it."""
    _record(alert, actor, "task", f"Made maintenance task #{task.id}")
    db.session.flush()
    _changed(alert, badges=False)


# --- lists --------------------------------------------------------------------------------

def visible_alerts(user):
    """A select of the alerts `user` may see: managers all, operators their machines'."""
    stmt = select(Alert)
    if user.role in roles.MANAGERS:
        return stmt
    if user.role not in roles.MACHINE_BOUND:
        return stmt.where(false())
    ids = machine_services.visible_machines(user).with_only_columns(Machine.id)
    return stmt.where(Alert.machine_id.in_(ids))


def open_unacknowledged_count(user):
    stmt = visible_alerts(user).where(Alert.closed_at.is_(None),
                                      Alert.acknowledged_at.is_(None))
    return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


@badge_counter("alerts")
def _alerts_badge(user):
    if user.role not in roles.MANAGERS | roles.MACHINE_BOUND:
        return 0
    return open_unacknowledged_count(user)


@dataclass
class AlertFilters:
    state: str = "open"
    severity: str = ""
    machine_id: int | None = None
    line_id: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    errors: tuple = ()

    @property
    def active_besides_state(self):
        return bool(self.severity or self.machine_id or self.line_id or self.date_from
                    or self.date_to)

    @property
    def active(self):
        return self.state != "open" or self.active_besides_state


def _day(raw, label, errors):
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append(f"{label} “{raw[:20]}” is not a date; use the date picker.")
        return None


def parse_filters(args):
    errors = []
    state = args.get("state", "open")
    if state not in dict(STATE_FILTERS):
        errors.append("Unknown state filter; showing open alerts.")
        state = "open"
    severity = args.get("severity", "")
    if severity and severity not in dict(SEVERITIES):
        errors.append("Unknown severity; showing every severity.")
        severity = ""
    filters = AlertFilters(state=state, severity=severity,
                           machine_id=args.get("machine", type=int),
                           line_id=args.get("line", type=int),
                           date_from=_day(args.get("from"), "From", errors),
                           date_to=_day(args.get("to"), "To", errors))
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors.append("“From” is after “to”: nothing can match; swap them.")
    filters.errors = tuple(errors)
    return filters


STATE_WHERE = {
    "open": lambda: [Alert.closed_at.is_(None)],
    "active": lambda: [Alert.closed_at.is_(None), Alert.state == "active"],
    "cleared": lambda: [Alert.closed_at.is_(None), Alert.state == "cleared"],
    "unacknowledged": lambda: [Alert.closed_at.is_(None), Alert.acknowledged_at.is_(None)],
    "closed": lambda: [Alert.closed_at.is_not(None)],
    "all": lambda: [],
}


def search_alerts(user, filters):
    stmt = visible_alerts(user).where(*STATE_WHERE[filters.state]())
    if filters.severity:
        stmt = stmt.where(Alert.severity == filters.severity)
    if filters.machine_id:
        stmt = stmt.where(Alert.machine_id == filters.machine_id)
    if filters.line_id:
        stmt = stmt.where(Alert.machine_id.in_(select(Machine.id).where(
            Machine.line_id == filters.line_id)))
    if filters.date_from:
        stmt = stmt.where(Alert.raised_at >= datetime.combine(filters.date_from, time(),
                                                              UTC))
    if filters.date_to:
        stmt = stmt.where(Alert.raised_at < datetime.combine(
            filters.date_to + timedelta(days=1), time(), UTC))
    return stmt.options(selectinload(Alert.machine).selectinload(Machine.line),
                        selectinload(Alert.rule), selectinload(Alert.acknowledged_by)
                        ).order_by(Alert.raised_at.desc(), Alert.id.desc())


def machine_open_alerts(machine):
    return db.session.scalars(select(Alert).where(
        Alert.machine_id == machine.id, Alert.closed_at.is_(None)).options(
        selectinload(Alert.rule)).order_by(Alert.raised_at.desc())).all()


def filter_choices(user):
    machines = db.session.scalars(machine_services.visible_machines(user).options(
        selectinload(Machine.line)).order_by(Machine.code)).all()
    lines = sorted({m.line for m in machines if m.line is not None}, key=lambda ln: ln.name)
    return {"machines": machines, "lines": lines}
