"""Domain events go out only after the transaction that caused them has committed, and all
the events of one commit go out together, as one Redis message (a JSON list)."""

import json
import logging
import time

from flask import current_app
from redis.exceptions import RedisError

from app.core.after_commit import after_commit, pending
from app.core.extensions import redis_client

log = logging.getLogger(__name__)

# After a failed publish, seconds during which publishing is not tried again.
RETRY_AFTER = 5.0
DOWN_UNTIL = "floorline.live_down_until"


def live_channel(prefix=None):
    """`live:events`: the one channel every web process's hub listens to."""
    return f"{prefix or current_app.config['LIVE_CHANNEL_PREFIX']}:events"


def publish_after_commit(event_name, **payload):
    """Queue an event on the current session; it is sent only if the session commits."""
    _commit_batch().append({"event": event_name, **payload})


def take_pending(event_name):
    """Unqueue this transaction's event of that name and return it (None if there is none),
    so a caller can queue one event that sums up several changes, after all of them."""
    batch = _queued_batch() or []
    for event in batch:
        if event["event"] == event_name:
            batch.remove(event)
            return event
    return None


def _commit_batch():
    """The list of events this transaction sends when it commits, queued on first use."""
    batch = _queued_batch()
    if batch is None:
        batch = []
        after_commit(publish_batch, batch)
    return batch


def _queued_batch():
    return next((args[0] for fn, args in pending() if fn is publish_batch), None)


def pending_events():
    """The events the current transaction will publish when it commits."""
    return [event for fn, args in pending() if fn is publish_batch for event in args[0]]


def publish_batch(events):
    """Send one commit's events at once. Redis carries only notifications, so a failure is
    logged, and for RETRY_AFTER seconds after one the events are dropped without trying:
    each attempt against a stopped Redis costs its connection retries, which would slow
    every commit of the plant (ingest goes on storing readings meanwhile)."""
    app, client = current_app._get_current_object(), redis_client()
    names = ", ".join(sorted({e["event"] for e in events}))
    failed_client, until = app.extensions.get(DOWN_UNTIL, (None, 0.0))
    if failed_client is client and time.monotonic() < until:
        log.warning("live updates %s not sent: Redis unavailable", names)
        return
    try:
        client.publish(live_channel(), json.dumps(events))
    except RedisError:
        app.extensions[DOWN_UNTIL] = (client, time.monotonic() + RETRY_AFTER)
        log.warning("live updates %s not sent: Redis unavailable", names, exc_info=True)
