"""Committed domain events as JSON, for the API's socket (/api/v1/ws).

The twin of renderers.py for programs instead of pages: each domain registers in its
live.py how its events look as JSON (`live_json`) and what a subscriber's snapshot holds
of it (`live_json_snapshot`). The socket protocol is the API's (app/blueprints/api/ws.py);
this module knows events, scopes and audiences only.

Audiences are the fragments' (renderers.py): a builder registered `PER_VISIBILITY` may use
only the user's role and the machines they see, so users alike in both share one build;
`PER_USER` builds for each user. Each event is serialized to text once per audience and
those bytes go to every socket of the audience; each socket then keeps the events of the
scopes it subscribed to.
"""

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from app.core.extensions import db
from app.core.models import as_utc, utcnow

from .renderers import PER_USER, PER_VISIBILITY, visibility_of

log = logging.getLogger(__name__)


class Scope(NamedTuple):
    """What a socket subscribed to: the plant (id None), a line or a machine."""

    kind: str
    id: int | None = None


PLANT = Scope("plant")
SCOPE_KINDS = ("plant", "line", "machine")


@dataclass(frozen=True)
class JsonEvent:
    """One server event: its `type` (e.g. "andon_event"), its `data`, and where it belongs.

    `personal` events (a user's notifications) reach every scope of the user's socket.
    """

    type: str
    data: dict
    machine_id: int | None = None
    line_id: int | None = None
    personal: bool = False

    def in_scope(self, scope):
        if self.personal or scope.kind == "plant":
            return True
        if scope.kind == "line":
            return self.line_id is not None and self.line_id == scope.id
        return self.machine_id is not None and self.machine_id == scope.id


@dataclass(frozen=True)
class Builder:
    fn: object
    audience: str

    def audience_of(self, user, visibility):
        return user.id if self.audience == PER_USER else (user.role, visibility)


BUILDERS = {}


def live_json(*event_names, audience=PER_VISIBILITY):
    """Register `fn(message, user) -> iterable of JsonEvent` (or None) for these domain
    events, e.g. `@live_json("andon.changed")`. A new server event type is one more
    registration; the socket needs no change."""
    if audience not in (PER_USER, PER_VISIBILITY):
        raise ValueError(f"unknown live audience {audience!r}")

    def decorator(fn):
        for name in event_names:
            BUILDERS.setdefault(name, []).append(Builder(fn, audience))
        return fn
    return decorator


SNAPSHOTS = {}


def live_json_snapshot(key):
    """Register `fn(user, scope) -> JSON-able`: the current state of one kind of thing in
    a scope, as `user` may see it; a subscribe answers with every registered key."""
    def decorator(fn):
        SNAPSHOTS[key] = fn
        return fn
    return decorator


def snapshot(user, scope):
    return {key: fn(user, scope) for key, fn in SNAPSHOTS.items()}


def person_json(user):
    """A user as others see them in events: id and display name (None: nobody)."""
    return {"id": user.id, "name": user.display_name} if user is not None else None


def _plain(value):
    """json.dumps' fallback: times as UTC ISO 8601, as the REST API writes them."""
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def encode(message_type, body):
    """A server message as the socket sends it."""
    return json.dumps({"type": message_type, **body}, default=_plain)


def encode_event(event, at):
    return encode(event.type, {"at": at, "machine_id": event.machine_id,
                               "line_id": event.line_id, "data": event.data})


def build_for(events, listeners, users):
    """{listener: [(text, JsonEvent), ...]} for one commit's events: each builder runs
    once per audience and each event is serialized once per audience."""
    visibility = visibility_of([users[uid] for uid in {li.user_id for li in listeners}])
    out = {listener: [] for listener in listeners}
    at = utcnow().isoformat()
    for message in events:
        for builder in BUILDERS.get(message.get("event"), []):
            for group in _audiences(builder, listeners, users, visibility):
                built = _build_one(builder, message, users[group[0].user_id])
                items = [(encode_event(event, at), event) for event in built]
                for listener in group:
                    out[listener].extend(items)
    return out


def _audiences(builder, listeners, users, visibility):
    groups = {}
    for listener in listeners:
        user = users[listener.user_id]
        groups.setdefault(builder.audience_of(user, visibility[user.id]), []).append(listener)
    return groups.values()


def _build_one(builder, message, user):
    """A failing builder costs its events, not the batch."""
    try:
        return list(builder.fn(message, user) or ())
    except Exception:
        log.exception("live JSON builder %s failed on %s", builder.fn.__qualname__,
                      message.get("event"))
        db.session.rollback()
        return []
