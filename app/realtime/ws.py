"""The /ws socket: logged-in users only; relays their share of live events as HTML."""

import queue
from datetime import datetime

from flask import current_app, render_template, request
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from app.blueprints.auth.models import User
from app.core.extensions import db, sock

from .fanout import CSRF_PLACEHOLDER
from .hub import hub_for
from .renderers import render_globals, render_resync

POLICY_VIOLATION = 1008
# A closed socket is noticed within this many seconds, freeing its thread.
IDLE_TIMEOUT = 1


@sock.route("/ws")
def live(ws):
    # flask-sock has accepted the handshake already: refuse by closing with a reason.
    if not current_user.is_authenticated or current_user.needs_setup:
        ws.close(reason=POLICY_VIOLATION, message="Log in first.")
        return
    user_id, version = current_user.id, current_user.session_version
    # An idle socket must not hold a database connection (or a transaction's locks).
    db.session.remove()
    hub = hub_for(current_app._get_current_object())
    sub = hub.subscribe(user_id, version, request.args.get("resync", ""), request.url_root)
    try:
        # Sent once subscribed: the page's live dot turns green only when nothing is missed.
        since = _since(request.args.get("since"))
        ws.send(render_template("_live_on.html") + _globals(user_id, since))
        _send_resync(ws, request.args.get("resync"), user_id, since)
        _relay(ws, sub)
    finally:
        hub.unsubscribe(sub)


def _since(raw):
    """The page's render time (ISO 8601), or None when absent or unreadable."""
    try:
        return datetime.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _globals(user_id, since):
    """What every page shows (navigation badges, the andon banner), as it is now."""
    try:
        return render_globals(db.session.get(User, user_id), since)
    finally:
        db.session.remove()


def _send_resync(ws, spec, user_id, since):
    """What the page asked to be brought up to date on (re)connect."""
    if not spec:
        return
    try:
        html = render_resync(spec, db.session.get(User, user_id), since)
    finally:
        db.session.remove()
    if html:
        ws.send(html)


def _relay(ws, sub):
    """Send what the hub rendered for this socket until it closes or its session ends."""
    while ws.connected:
        try:
            html = sub.get(timeout=IDLE_TIMEOUT)
        except queue.Empty:
            html = None
        if sub.ended:
            ws.close(reason=POLICY_VIOLATION, message="Session ended.")
            return
        if html:
            # Fragments are shared by an audience; the CSRF token is this session's own.
            ws.send(html.replace(CSRF_PLACEHOLDER, generate_csrf()) if CSRF_PLACEHOLDER in html
                    else html)
