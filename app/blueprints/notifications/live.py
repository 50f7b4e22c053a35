"""New notifications appear at the top of an open notification centre."""

from flask import render_template
from sqlalchemy import select

from app.core.extensions import db
from app.realtime import live_renderer

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
