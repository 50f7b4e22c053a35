"""Alerts on open pages: new rows at the top of the list, changed rows and alert pages
updated in place. Each user gets only the alerts they may see.

Pages say what they show through the socket's resync value: "alerts:<state>" for the
first page of a list filtered by state only (new alerts belong at its top),
"alerts-static" for any other list (rows are updated, none added), "alert:<id>" for an
alert's own page.
"""

from flask import current_app, render_template
from sqlalchemy import select

from app.blueprints.machines.live import in_scope, machine_ref
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_renderer, live_resync
from app.realtime.json_events import JsonEvent, live_json, live_json_snapshot, person_json

from .access import can_see_alert
from .alert_services import STATE_FILTERS, AlertFilters, filter_choices, search_alerts
from .models import Alert
from .panels import ackable, row_context


def _alert(message, user):
    alert = db.session.get(Alert, message.get("id"))
    if alert is None or not can_see_alert(user, alert):
        return None
    return alert


def _alert_page(alert):
    return (render_template("alerts/_alert_state.html", alert=alert, oob=True)
            + render_template("alerts/_history.html", alert=alert, oob=True))


@live_renderer("alert.raised", "alert.changed", audience=PER_VISIBILITY)
def alert_fragments(message, user, page):
    on_list = page.startswith("alerts:") or page == "alerts-static"
    if not on_list and page != f"alert:{message.get('id')}":
        return None
    alert = _alert(message, user)
    if alert is None:
        return None
    if not on_list:
        return _alert_page(alert)
    new = message["event"] == "alert.raised"
    if new and page == "alerts-static":
        return None  # a filtered list: the new alert may not belong on it
    # The audience's user, not current_user: this may run outside its request.
    return render_template("alerts/_live_row.html", new=new, **row_context(user, alert))


@live_resync("alerts")
def resync_list(user, state, since):
    """A (re)connecting list whose alerts changed since it was drawn gets its rows again,
    whole: replacing them cannot double a row that already arrived live."""
    if since is None or state not in dict(STATE_FILTERS):
        return ""
    filters = AlertFilters(state=state)
    stmt = search_alerts(user, filters)
    changed = db.session.scalar(select(stmt.where(Alert.updated_at > since).exists()))
    if not changed:
        return ""
    alerts = db.session.scalars(stmt.limit(current_app.config["PAGE_SIZE"])).all()
    # current_user here is the socket's user (the rows' buttons and empty state use it).
    return render_template("alerts/_rows.html", alerts=alerts, filters=filters, oob=True,
                           live=True, current_user=user, ackable=ackable(user, alerts),
                           **filter_choices(user))


@live_resync("alert")
def resync_alert(user, arg, since):
    if not arg.isdigit():
        return ""
    alert = db.session.scalar(select(Alert).where(Alert.id == int(arg)))
    if alert is None or not can_see_alert(user, alert):
        return ""
    if since is not None and alert.updated_at <= since and not any(
            e.at > since for e in alert.events):
        return ""
    return _alert_page(alert)


# --- JSON for the API's socket ----------------------------------------------------------

# A subscribe's snapshot carries at most this many open alerts, newest first; the rest
# are a GET /api/v1/alerts away.
SNAPSHOT_LIMIT = 100


def alert_json(alert):
    """An alert as GET /api/v1/alerts/{id} shows it, without its history (the same fields)."""
    return {"id": alert.id, "rule": {"id": alert.rule.id, "name": alert.rule.name},
            "machine": machine_ref(alert.machine),
            "severity": alert.severity, "message": alert.message, "value": alert.value,
            "state": alert.state, "is_open": alert.is_open, "raised_at": alert.raised_at,
            "cleared_at": alert.cleared_at, "acknowledged_at": alert.acknowledged_at,
            "acknowledged_by": person_json(alert.acknowledged_by),
            "closed_at": alert.closed_at, "closed_by": person_json(alert.closed_by),
            "close_note": alert.close_note, "updated_at": alert.updated_at}


@live_json("alert.raised", "alert.changed")
def alert_events(message, user):
    """A new alert is a `system_alert`; an acknowledged, cleared, commented or closed one
    an `alert_update`."""
    alert = _alert(message, user)
    if alert is None:
        return None
    kind = "system_alert" if message["event"] == "alert.raised" else "alert_update"
    return [JsonEvent(kind, alert_json(alert), alert.machine_id, alert.machine.line_id)]


@live_json_snapshot("alerts")
def open_alerts_snapshot(user, scope):
    stmt = search_alerts(user, AlertFilters(state="open")).where(
        in_scope(Alert.machine_id, scope))
    alerts = db.session.scalars(stmt.order_by(None).order_by(
        Alert.raised_at.desc(), Alert.id.desc()).limit(SNAPSHOT_LIMIT)).all()
    return [alert_json(alert) for alert in alerts]
