"""Domain events go out only after the transaction that caused them has committed."""

import json
import logging

from flask import current_app
from flask_sqlalchemy.session import Session
from redis.exceptions import RedisError
from sqlalchemy import event

from app.extensions import db, redis_client

log = logging.getLogger(__name__)
PENDING = "floorline_pending_events"


def channel_for(event_name, prefix=None):
    """`machine.updated` → `live:machine`: one channel per domain."""
    prefix = prefix or current_app.config["LIVE_CHANNEL_PREFIX"]
    return f"{prefix}:{event_name.split('.', 1)[0]}"


def publish_after_commit(event_name, **payload):
    """Queue an event on the current session; it is sent only if the session commits."""
    db.session.info.setdefault(PENDING, []).append({"event": event_name, **payload})


def publish_now(message):
    """Send one event at once. Redis carries only notifications, so a failure is logged, not raised."""
    try:
        redis_client().publish(channel_for(message["event"]), json.dumps(message))
    except RedisError:
        log.warning("live update %s not sent: Redis unavailable", message["event"],
                    exc_info=True)


def _after_commit(session):
    for message in session.info.pop(PENDING, []):
        publish_now(message)


def _after_rollback(session):
    session.info.pop(PENDING, None)


def init_publishing():
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)
