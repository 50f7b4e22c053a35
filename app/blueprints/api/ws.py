"""The JSON socket, /api/v1/ws?token=<access token> (docs/api.md "WebSocket").

A client subscribes to scopes (the plant, a line, a machine) and gets a snapshot of each,
then the server events of those scopes as the domains commit them: the same committed
events that update the pages, built by the domains' `live_json` builders once per
audience (realtime/json_events.py) and handed over by the hub. Each socket keeps only the
events of the scopes it subscribed to, and only what its user may see reaches it.

The token is checked when the socket opens, on every client message, and whenever an
event batch reaches the hub; it closes with 4401 when the token has expired or was
revoked (logout, a reused refresh token, deactivation, a password reset) and 4403 when
the user may not use the API yet.
"""

import contextlib
import json
import queue
import threading
import time

from flask import Blueprint, current_app, request
from simple_websocket import ConnectionClosed
from sqlalchemy import select

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.blueprints.machines.models import Line, Machine
from app.blueprints.machines.services import can_see_machine, visible_machines
from app.core.extensions import db, sock
from app.realtime.hub import Subscription, hub_for
from app.realtime.json_events import PLANT, SCOPE_KINDS, Scope, build_for, encode, snapshot

from . import tokens
from .errors import JsonError
from .models import ApiSession

# Close codes: 4000 + the HTTP status the same problem gets on the REST endpoints.
CLOSE_UNAUTHORIZED = 4401   # token missing, invalid, expired or revoked: log in / refresh
CLOSE_FORBIDDEN = 4403      # the user may not use the API yet (one-time password, profile)
CLIENT_MESSAGE_LIMIT = 4096  # characters; a subscribe is a few dozen
MAX_SCOPES = 50
# A waiting socket wakes this often to notice its token expiring.
IDLE_SECONDS = 1
# A quiet socket checks its token in the database this often: a deactivation publishes
# no event (a logout does, so it closes at once).
RECHECK_SECONDS = 30
# Seconds between the handshake and the server's first frame: simple-websocket's client
# (1.1.0) reads the handshake answer and leaves unread whatever came in the same packet
# (a `ready` until the next frame arrives; a refusal's close code for good).
FIRST_FRAME_PAUSE = 0.25
_CLIENT, _CLOSED = object(), object()


class ApiSubscription(Subscription):
    """One JSON socket as the hub sees it; the hub hands its batches to `fan_out`."""

    def __init__(self, session, claims, url_root):
        super().__init__(session.user_id, claims["ver"], page="api", url_root=url_root)
        self.session_id = session.id
        self.expires_at = claims["exp"]
        self.scopes = set()
        self.closing = None  # (close code, reason) once the token stopped being good

    def end(self, code=CLOSE_UNAUTHORIZED, reason="token_revoked"):
        if self.closing is None:
            self.closing = (code, reason)
        super().end()

    @staticmethod
    def fan_out(app, events, listeners):
        fan_out_json(app, events, listeners)


def fan_out_json(app, events, listeners):
    """One commit's events → each live socket's (text, event) pairs, built per audience."""
    with app.app_context():
        try:
            live, users = _live_listeners(listeners)
            built = build_for(events, live, users) if live else {}
        finally:
            db.session.remove()
    for listener, items in built.items():
        for item in items:
            listener.deliver(item)


def _live_listeners(listeners):
    """Sockets whose token is still good (two queries for all); the others are ended."""
    users = {u.id: u for u in db.session.scalars(
        select(User).where(User.id.in_({li.user_id for li in listeners})))}
    revoked = dict(db.session.execute(select(ApiSession.id, ApiSession.revoked_at).where(
        ApiSession.id.in_({li.session_id for li in listeners}))).all())
    live = []
    for listener in listeners:
        user = users.get(listener.user_id)
        if (user is None or not user.active or user.session_version != listener.session_version
                or listener.session_id not in revoked or revoked[listener.session_id]):
            listener.end(CLOSE_UNAUTHORIZED, "token_revoked")
        else:
            live.append(listener)
    return live, users


# A plain blueprint of its own: on the API's blueprint flask-smorest would describe the
# socket as an HTTP GET; on none, flask-sock would name it by import order.
socket_bp = Blueprint("api_ws", __name__, url_prefix="/api/v1")


@sock.route("/ws", bp=socket_bp)
def api_socket(ws):
    # flask-sock has accepted the handshake already: a bad token closes with a code.
    try:
        session, claims = tokens.socket_session(request.args.get("token", ""))
    except JsonError as error:
        _refuse(ws, error)
        return
    ready = _ready(session, claims)
    sub = ApiSubscription(session, claims, request.url_root)
    # An idle socket must not hold a database connection.
    db.session.remove()
    hub = hub_for(current_app._get_current_object())
    hub.attach(sub)
    try:
        time.sleep(FIRST_FRAME_PAUSE)
        ws.send(ready)
        threading.Thread(target=_read, args=(ws, sub), name="api-ws-reader",
                         daemon=True).start()
        _serve(ws, sub)
    finally:
        hub.unsubscribe(sub)


def _refuse(ws, error):
    """Say why in an error message, then close with the code."""
    time.sleep(FIRST_FRAME_PAUSE)
    ws.send(_error(None, error))
    ws.close(reason=CLOSE_FORBIDDEN if error.status == 403 else CLOSE_UNAUTHORIZED,
             message=error.code)


def _ready(session, claims):
    user = session.user
    return encode("ready", {"user": {"id": user.id, "username": user.username,
                                     "role": user.role},
                            "token_expires_at": _iso(claims["exp"]),
                            "scopes": list(SCOPE_KINDS)})


def _iso(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(epoch))


def _read(ws, sub):
    """The client's messages, onto the socket's queue beside the hub's events, so one
    thread answers both in order."""
    try:
        while True:
            sub.queue.put((_CLIENT, ws.receive()), timeout=5)
    except (ConnectionClosed, queue.Full):
        with contextlib.suppress(queue.Full):
            sub.queue.put((_CLOSED, None), timeout=5)


def _serve(ws, sub):
    """Send this socket's events and answer its messages until it closes or its token
    stops being good."""
    checked = time.monotonic()
    while ws.connected:
        left = sub.expires_at - time.time()
        if left <= 0:
            ws.close(reason=CLOSE_UNAUTHORIZED, message="token_expired")
            return
        if time.monotonic() - checked >= RECHECK_SECONDS:
            checked = time.monotonic()
            _recheck(sub)
        try:
            item = sub.get(timeout=min(left, IDLE_SECONDS))
        except queue.Empty:
            item = None
        if sub.closing:
            ws.close(reason=sub.closing[0], message=sub.closing[1])
            return
        if item is None:
            continue
        first, second = item  # (_CLIENT, message), (_CLOSED, None) or (text, JsonEvent)
        if first is _CLOSED:
            return
        if first is _CLIENT:
            _answer(ws, sub, second)
        elif any(second.in_scope(scope) for scope in sub.scopes):
            ws.send(first)
        _tell_overflow(ws, sub)


def _recheck(sub):
    try:
        _check_token(sub)
    except JsonError:
        pass  # sub.end() has queued the close
    finally:
        db.session.remove()


def _tell_overflow(ws, sub):
    if sub.overflowed:
        sub.overflowed = False
        ws.send(_error(None, JsonError(503, "events_dropped", "This socket fell behind and "
                                       "missed events; subscribe again for a fresh snapshot.")))


# --- client messages ---------------------------------------------------------------------

def _answer(ws, sub, raw):
    ref = None
    try:
        message = _parse(raw)
        ref = message.get("ref")
        _check_token(sub)
        ws.send(_handle(sub, message, ref))
    except JsonError as error:
        if error.status in (401, 403) and sub.closing:
            return  # the loop closes the socket with the code
        ws.send(_error(ref, error))
    finally:
        db.session.remove()


def _parse(raw):
    if not isinstance(raw, str):
        raise JsonError(400, "bad_request", "Send text frames with JSON objects.")
    if len(raw) > CLIENT_MESSAGE_LIMIT:
        raise JsonError(413, "payload_too_large",
                        f"A message may be at most {CLIENT_MESSAGE_LIMIT} characters.")
    try:
        message = json.loads(raw)
    except ValueError:
        raise JsonError(400, "bad_request", 'That is not JSON; send e.g. {"type": "ping"}.') \
            from None
    if not isinstance(message, dict):
        raise JsonError(400, "bad_request", 'Send a JSON object, e.g. {"type": "ping"}.')
    return message


def _check_token(sub):
    """The token is checked again on every message: a logout elsewhere ends the socket."""
    session = db.session.get(ApiSession, sub.session_id)
    user = session.user if session else None
    if (session is None or session.revoked_at is not None or not user.active
            or user.session_version != sub.session_version):
        sub.end(CLOSE_UNAUTHORIZED, "token_revoked")
        raise JsonError(401, "token_revoked", "This token was revoked: log in again.")


def _handle(sub, message, ref):
    kind = message.get("type")
    if kind == "ping":
        return encode("pong", {"ref": ref})
    if kind == "subscribe":
        return _subscribe(sub, _scope(message), ref)
    if kind == "unsubscribe":
        scope = _scope(message)
        sub.scopes.discard(scope)
        return encode("unsubscribed", {"ref": ref, **_scope_json(scope)})
    raise JsonError(422, "validation_failed", "Unknown message type.", fields={
        "type": "Use subscribe, unsubscribe or ping."})


def _scope(message):
    kind = message.get("scope")
    if kind not in SCOPE_KINDS:
        raise JsonError(422, "validation_failed", "Say what to subscribe to.", fields={
            "scope": f"One of {', '.join(SCOPE_KINDS)}."})
    if kind == "plant":
        return PLANT
    ident = message.get("id")
    if not isinstance(ident, int) or isinstance(ident, bool) or not 1 <= ident <= 2**31 - 1:
        raise JsonError(422, "validation_failed", f"Say which {kind}.", fields={
            "id": f"The {kind}'s id, a positive integer."})
    return Scope(kind, ident)


def _subscribe(sub, scope, ref):
    user = db.session.get(User, sub.user_id)
    _check_access(user, scope)
    if scope not in sub.scopes and len(sub.scopes) >= MAX_SCOPES:
        raise JsonError(422, "validation_failed", f"At most {MAX_SCOPES} subscriptions per "
                        "socket; subscribe to the plant or a line instead.",
                        fields={"scope": "Too many subscriptions."})
    # Subscribed before the snapshot is read: nothing committed after it is missed.
    sub.scopes.add(scope)
    return encode("subscribed", {"ref": ref, **_scope_json(scope),
                                 "snapshot": snapshot(user, scope)})


def _check_access(user, scope):
    if scope.kind == "machine":
        machine = db.session.get(Machine, scope.id)
        if machine is None:
            raise JsonError(404, "not_found", f"No machine with id {scope.id}.")
        if not can_see_machine(user, machine):
            raise JsonError(403, "forbidden", "This machine is not one of yours.")
    elif scope.kind == "line":
        if db.session.get(Line, scope.id) is None:
            raise JsonError(404, "not_found", f"No line with id {scope.id}.")
        if db.session.scalar(visible_machines(user).with_only_columns(Machine.id).where(
                Machine.line_id == scope.id).limit(1)) is None and _machine_bound(user):
            raise JsonError(403, "forbidden", "None of this line's machines is yours.")


def _machine_bound(user):
    return user.role in roles.MACHINE_BOUND


def _scope_json(scope):
    return {"scope": scope.kind, "id": scope.id}


def _error(ref, error):
    return encode("error", {"ref": ref, "error": {"code": error.code, "message": error.message,
                                                  "fields": error.fields}})
