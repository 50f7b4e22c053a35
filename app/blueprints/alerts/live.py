"""Alerts on open pages: new rows at the top of the list, changed rows and alert pages
updated in place. Each user gets only the alerts they may see."""

from flask import render_template
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.realtime import live_renderer, live_resync

from .access import can_acknowledge, can_see_alert
from .models import Alert


def _alert(message, user):
    alert = db.session.get(Alert, message.get("id"))
    if alert is None or not can_see_alert(user, alert):
        return None
    return alert


def _alert_page(alert):
    return (render_template("alerts/_alert_state.html", alert=alert, oob=True)
            + render_template("alerts/_history.html", alert=alert, oob=True))


@live_renderer("alert.raised", "alert.changed")
def alert_fragments(message, user, page):
    if page not in ("alerts", "alerts-static", f"alert:{message.get('id')}"):
        return None
    alert = _alert(message, user)
    if alert is None:
        return None
    if page.startswith("alert:"):
        return _alert_page(alert)
    new = message["event"] == "alert.raised"
    if new and page != "alerts":
        return None  # a filtered list: the new alert may not belong on it
    # The socket's user, not current_user: this runs for every open socket.
    return render_template("alerts/_live_row.html", alert=alert, new=new,
                           may_ack=can_acknowledge(user, alert))


@live_resync("alerts")
def resync_list(user, _arg, since):
    """A reconnecting list gets the rows changed while it was away (new ones on top)."""
    if since is None:
        return ""
    from .alert_services import visible_alerts

    alerts = db.session.scalars(visible_alerts(user).where(Alert.updated_at > since).options(
        selectinload(Alert.machine), selectinload(Alert.rule)).order_by(Alert.raised_at)).all()
    return "".join(render_template("alerts/_live_row.html", alert=a, new=a.raised_at > since,
                                   may_ack=can_acknowledge(user, a)) for a in alerts)


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
