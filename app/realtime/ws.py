"""The /ws socket: logged-in users only; relays their share of live events as HTML."""

import queue

from flask import current_app
from flask_login import current_user

from app.blueprints.auth.models import User
from app.extensions import db, sock

from .hub import hub_for
from .renderers import render_event

POLICY_VIOLATION = 1008
IDLE_TIMEOUT = 20  # seconds between checks that the socket is still open


@sock.route("/ws")
def live(ws):
    # flask-sock has accepted the handshake already: refuse by closing with a reason.
    if not current_user.is_authenticated or current_user.needs_setup:
        ws.close(reason=POLICY_VIOLATION, message="Log in first.")
        return
    user_id, version = current_user.id, current_user.session_version
    hub = hub_for(current_app._get_current_object())
    sub = hub.subscribe()
    try:
        while ws.connected:
            try:
                message = sub.get(timeout=IDLE_TIMEOUT)
            except queue.Empty:
                continue
            user = _fresh_user(user_id, version)
            if user is None:
                ws.close(reason=POLICY_VIOLATION, message="Session ended.")
                return
            html = render_event(message, user)
            if html:
                ws.send(html)
    finally:
        hub.unsubscribe(sub)
        db.session.remove()


def _fresh_user(user_id, version):
    """Reload the user in a new transaction so renders see what was just committed."""
    db.session.rollback()
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.session_version != version:
        return None
    return user
