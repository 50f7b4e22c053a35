"""Domain events go out only after the transaction that caused them has committed."""

import json
import logging

from flask import current_app
from redis.exceptions import RedisError

from app.core.after_commit import after_commit, pending
from app.core.extensions import redis_client

log = logging.getLogger(__name__)


def channel_for(event_name, prefix=None):
    """`machine.updated` → `live:machine`: one channel per domain."""
    prefix = prefix or current_app.config["LIVE_CHANNEL_PREFIX"]
    return f"{prefix}:{event_name.split('.', 1)[0]}"


def publish_after_commit(event_name, **payload):
    """Queue an event on the current session; it is sent only if the session commits."""
    after_commit(publish_now, {"event": event_name, **payload})


def pending_events():
    """The events the current transaction will publish when it commits."""
    return [args[0] for fn, args in pending() if fn is publish_now]


def publish_now(message):
    """Send one event at once. Redis carries only notifications, so a failure is logged."""
    try:
        redis_client().publish(channel_for(message["event"]), json.dumps(message))
    except RedisError:
        log.warning("live update %s not sent: Redis unavailable", message["event"],
                    exc_info=True)
