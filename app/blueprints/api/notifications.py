"""The caller's own notifications: list (all or unread), mark one read, mark all read, through
notifications.services as the notification centre. Someone else's is 404, as on the page:
not even its existence is told.
"""

import marshmallow as ma
from flask import g

from app.blueprints.notifications import services
from app.blueprints.notifications.models import NOTIFICATION_KINDS, Notification
from app.core.extensions import db

from . import bp
from .errors import JsonError
from .schemas import PageQuery, page_schema, paginated, valid_id
from .tokens import token_required


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={
        "enum": [code for code, _ in NOTIFICATION_KINDS]})
    title = ma.fields.String(required=True)
    body = ma.fields.String(required=True)
    url = ma.fields.String(required=True, metadata={
        "description": "The page of what it is about (path on this server)."})
    created_at = ma.fields.DateTime(required=True)
    read_at = ma.fields.DateTime(required=True, allow_none=True)


class NotificationPageSchema(page_schema(NotificationSchema)):
    unread = ma.fields.Integer(required=True, metadata={
        "description": "How many of the caller's notifications are unread (all pages)."})


class NotificationQuery(PageQuery):
    unread = ma.fields.Boolean(load_default=False, metadata={
        "description": "Only the unread ones."})


class MarkedSchema(ma.Schema):
    marked = ma.fields.Integer(required=True, metadata={
        "description": "How many were unread and are read now."})
    unread = ma.fields.Integer(required=True)


def _own(notification_id):
    notification = db.session.get(Notification, notification_id) \
        if valid_id(notification_id) else None
    if notification is None or notification.user_id != g.api_user.id:
        raise JsonError(404, "not_found", f"You have no notification {notification_id}.")
    return notification


@bp.get("/notifications", tags=["notifications"])
@token_required()
@bp.arguments(NotificationQuery, location="query")
@bp.response(200, NotificationPageSchema)
def list_notifications(args):
    """The caller's notifications, newest first."""
    page = paginated(services.own_notifications(g.api_user, args["unread"]), args)
    page["unread"] = services.unread_count(g.api_user)
    return page


@bp.post("/notifications/<int:notification_id>/read", tags=["notifications"])
@token_required()
@bp.response(200, NotificationSchema)
def mark_notification_read(notification_id):
    """Mark one of the caller's notifications read (again: no change)."""
    notification = _own(notification_id)
    services.mark_read(g.api_user, notification)
    db.session.commit()
    return notification


@bp.post("/notifications/read-all", tags=["notifications"])
@token_required()
@bp.response(200, MarkedSchema)
def mark_all_notifications_read():
    """Mark every notification of the caller read."""
    marked = services.mark_read(g.api_user)
    db.session.commit()
    return {"marked": marked, "unread": services.unread_count(g.api_user)}
