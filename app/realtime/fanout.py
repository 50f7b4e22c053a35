"""One commit's events → the HTML each open socket receives, rendered once per audience.

Runs in the hub's render thread: one query checks every listening user's session, one
`live_visibility` pass groups them, then each renderer runs once per audience (see
renderers.py) and the bytes go to every socket of that audience.
"""

import json
import logging

from flask import g
from sqlalchemy import select

from app.blueprints.auth.models import User
from app.core.extensions import db

from .renderers import renderers_for, visibility_of

log = logging.getLogger(__name__)
# Rendered where a fragment's form wants a CSRF token; each socket puts its own in.
CSRF_PLACEHOLDER = "live-csrf-token-placeholder"


def fan_out(app, events, listeners):
    """Render `events` for `listeners` and deliver; end those whose session has ended."""
    with app.app_context():
        try:
            live, users = _live_listeners(listeners)
            frames = _render(app, _distinct(events), live, users) if live else {}
        finally:
            db.session.remove()
    for listener, htmls in frames.items():
        for html in htmls:
            listener.deliver(html)


def _live_listeners(listeners):
    """The listeners whose user's session is still on, and those users (one query); the
    others are ended, as a per-message check of the user would have done."""
    ids = {listener.user_id for listener in listeners}
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    live = []
    for listener in listeners:
        user = users.get(listener.user_id)
        if user is not None and user.active and user.session_version == listener.session_version:
            live.append(listener)
        else:
            listener.end()
    return live, users


def _distinct(events):
    """A commit that queued the same event twice needs it rendered once."""
    seen = set()
    for event in events:
        key = json.dumps(event, sort_keys=True)
        if key not in seen:
            seen.add(key)
            yield event


def _render(app, events, listeners, users):
    """{listener: [html of each event it gets]}: one frame per event, as before batching."""
    visibility = visibility_of([users[uid] for uid in {li.user_id for li in listeners}])
    frames = {listener: [] for listener in listeners}
    for message in events:
        parts = {listener: [] for listener in listeners}
        for renderer in renderers_for(message):
            for group in _audiences(renderer, listeners, users, visibility):
                html = _render_one(app, renderer, message, users[group[0].user_id], group[0])
                for listener in group if html else ():
                    parts[listener].append(html)
        for listener, html in parts.items():
            if html:
                frames[listener].append("".join(html))
    return frames


def _audiences(renderer, listeners, users, visibility):
    """The listeners grouped by what this renderer's output depends on."""
    groups = {}
    for listener in listeners:
        user = users[listener.user_id]
        key = renderer.audience_of(user, visibility[user.id], listener.page), listener.url_root
        groups.setdefault(key, []).append(listener)
    return groups.values()


def _render_one(app, renderer, message, user, listener):
    """One renderer for one audience, in a request like its sockets' own (url_for, current_user,
    csrf_token() work as they do there). A failing renderer costs its fragment, not the batch."""
    with app.test_request_context("/ws", base_url=listener.url_root):
        # flask-login and flask-wtf keep the request's user and token on `g`.
        g._login_user = user
        setattr(g, app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token"), CSRF_PLACEHOLDER)
        try:
            return renderer.fn(message, user, renderer.page_for(listener.page))
        except Exception:
            log.exception("live renderer %s failed on %s", renderer.fn.__qualname__,
                          message.get("event"))
            db.session.rollback()
            return None
