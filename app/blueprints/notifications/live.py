"""New notifications appear at the top of an open notification centre."""

from flask import render_template
from sqlalchemy import select

from app.core.extensions import db
from app.realtime import PER_USER, live_renderer
from app.realtime.json_events import JsonEvent, live_json

from .models import Notification


@live_renderer("notification.created")
def new_notification(message, user, page):
    if page != "notifications" or user.id not in (message.get("user_ids") or []):
        return None
    items = db.session.scalars(select(Notification).where(
        Notification.id.in_(message.get("ids") or []), Notification.user_id == user.id)).all()
    if not items:
        return None
    return render_template("notifications/_live.html", items=items)



@live_json("notification.created", audience=PER_USER)
def notification(message, user):
    """The user's own new notifications (audience: the user), on whatever they subscribed."""
    if user.id not in (message.get("user_ids") or []):
        return None
    items = db.session.scalars(select(Notification).where(
        Notification.id.in_(message.get("ids") or []), Notification.user_id == user.id)).all()
    return [JsonEvent("notification", {
        "id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "url": n.url,
        "created_at": n.created_at, "read_at": n.read_at}, personal=True) for n in items]
