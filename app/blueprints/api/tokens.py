"""Bearer tokens (JWT, HS256): short access tokens, rotating refresh tokens.

A login opens an ApiSession; its access and refresh tokens name it ("sid"). A refresh
hands out a new pair and remembers only the newest refresh token: an older one coming
back was stolen or replayed, so the whole session is revoked. Logout revokes the session,
which ends both tokens at once in every web process, since each request reads the row.
Tokens also carry the user's session_version ("ver"): deactivating a user, resetting or
changing the password and changing the role bump it and so end every token of that user,
as they end web sessions.

API keys (auth.keys) come in the same Authorization header (told apart by their `flk_`
start) or in X-API-Key. Either way the request acts for a Principal: the user (for a key,
its service account), and the session or the key it proved itself with.
"""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

import jwt
from flask import current_app, g, request

from app.blueprints.auth import keys, roles
from app.blueprints.auth.models import ApiKey, User
from app.core.extensions import db
from app.core.models import utcnow
from app.realtime import publish_after_commit

from .errors import JsonError
from .models import ApiSession

API_KEY_HEADER = "X-API-Key"
ALGORITHM = "HS256"
ACCESS, REFRESH = "access", "refresh"
CLAIMS = ["exp", "iat", "sub", "sid", "jti", "ver", "typ"]


def _key():
    return current_app.config["JWT_SECRET_KEY"] or current_app.config["SECRET_KEY"]


def _lifetime(kind):
    if kind == ACCESS:
        return timedelta(minutes=current_app.config["API_ACCESS_TOKEN_MINUTES"])
    return timedelta(hours=current_app.config["API_REFRESH_TOKEN_HOURS"])


def _new_id():
    return uuid.uuid4().hex


def _encode(session, kind, jti, now):
    claims = {"typ": kind, "sub": str(session.user_id), "sid": session.id, "jti": jti,
              "ver": session.user.session_version, "iat": now, "exp": now + _lifetime(kind)}
    return jwt.encode(claims, _key(), algorithm=ALGORITHM)


def _pair(session):
    now = utcnow()
    session.refresh_jti = _new_id()
    session.expires_at = now + _lifetime(REFRESH)
    db.session.flush()
    return {"access_token": _encode(session, ACCESS, _new_id(), now),
            "refresh_token": _encode(session, REFRESH, session.refresh_jti, now),
            "token_type": "Bearer",
            "expires_in": int(_lifetime(ACCESS).total_seconds()),
            "refresh_expires_in": int(_lifetime(REFRESH).total_seconds())}


def open_session(user):
    """A new session for a user who just logged in: its first token pair."""
    session = ApiSession(id=_new_id(), user=user, refresh_jti="", expires_at=utcnow())
    db.session.add(session)
    return _pair(session)


def revoke(session, reason):
    if session.revoked_at is None:
        session.revoked_at, session.revoked_reason = utcnow(), reason
        db.session.flush()
        # Its open sockets (/api/v1/ws) close as soon as the revocation commits.
        publish_after_commit("api.session_revoked", id=session.id)


def _unauthorized(code, message):
    return JsonError(401, code, message, headers={"WWW-Authenticate": "Bearer"})


def _decode(token, kind):
    try:
        claims = jwt.decode(token, _key(), algorithms=[ALGORITHM],
                            options={"require": CLAIMS})
    except jwt.ExpiredSignatureError:
        raise _unauthorized("token_expired", f"The {kind} token has expired.") from None
    except jwt.InvalidTokenError:
        raise _unauthorized("invalid_token", f"That is not a valid {kind} token.") from None
    if claims["typ"] != kind:
        raise _unauthorized("invalid_token", f"Send the {kind} token here, not the "
                                             f"{claims['typ']} token.")
    return claims


def _live_session(claims, lock=False):
    """The session the claims name, while it and its user are still in good standing.

    `lock`: two refreshes racing with one token must not both win.
    """
    session = db.session.get(ApiSession, str(claims["sid"])[:32], with_for_update=lock)
    if session is None or str(session.user_id) != claims["sub"]:
        raise _unauthorized("invalid_token", "That token belongs to no session.")
    user = session.user
    if session.revoked_at is not None or not user.active \
            or user.session_version != claims["ver"]:
        raise _unauthorized("token_revoked", "This token was revoked: log in again.")
    return session


def rotate(refresh_token):
    """A new pair for a valid refresh token; a replayed one revokes its whole session."""
    claims = _decode(refresh_token, REFRESH)
    session = _live_session(claims, lock=True)
    if claims["jti"] != session.refresh_jti:
        revoke(session, "refresh_reused")
        db.session.commit()  # the revocation must stand although the request fails
        raise _unauthorized("refresh_token_reused", "This refresh token was used before; "
                                                    "every token of its login is revoked.")
    return _pair(session)


def bearer_session():
    """The ApiSession of the request's access token, or 401."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("unauthorized", "Send an access token: "
                                            "Authorization: Bearer <token>.")
    return _live_session(_decode(token.strip(), ACCESS))


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a user with an access token, or an API key's account."""

    user: User
    session: ApiSession | None = None
    key: ApiKey | None = None

    @property
    def bucket(self):
        """What rate limits and idempotency keys are counted per."""
        return f"key:{self.key.id}" if self.key else f"user:{self.user.id}"


def _presented():
    """The credential of the request: the bearer token, else the X-API-Key header."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), "Authorization"
    return request.headers.get(API_KEY_HEADER, "").strip(), API_KEY_HEADER


def _key_principal(secret):
    key = keys.find_key(secret)
    if key is None:
        raise _unauthorized("invalid_token", "That is not a valid API key.")
    if key.revoked_at is not None:
        raise _unauthorized("token_revoked", "This API key was revoked: ask an "
                                             "administrator for a new one.")
    if keys.touch(key):
        # At most once a minute: committed now, since a GET commits nothing later and a
        # refused request would roll it back, yet the key was used either way.
        db.session.commit()
    return Principal(key.account, key=key)


def _authenticate():
    secret, header = _presented()
    if not secret:
        raise _unauthorized("unauthorized", "Send an access token (Authorization: Bearer "
                                            "<token>) or an API key (X-API-Key: <key>).")
    if keys.looks_like_key(secret):
        return _key_principal(secret)
    if header == API_KEY_HEADER:
        raise _unauthorized("invalid_token", "X-API-Key takes an API key (flk_…); send "
                                             "access tokens as Authorization: Bearer.")
    session = _live_session(_decode(secret, ACCESS))
    return Principal(session.user, session=session)


def current_principal():
    """The request's Principal, or the 401 its credential earns; worked out once a request
    (rate limits, idempotency and the endpoint all ask)."""
    if "api_auth" not in g:
        try:
            g.api_auth = _authenticate()
        except JsonError as refusal:
            g.api_auth = refusal
    if isinstance(g.api_auth, JsonError):
        raise g.api_auth
    return g.api_auth


def principal_or_none():
    try:
        return current_principal()
    except JsonError:
        return None


def socket_session(token):
    """The session and claims of an access token sent as the socket's ?token=, checked as
    a bearer token is (JsonError when it is not good)."""
    if not token.strip():
        raise _unauthorized("unauthorized", "Send an access token: ?token=<access token>.")
    claims = _decode(token.strip(), ACCESS)
    session = _live_session(claims)
    _check_setup(session.user)
    return session, claims


def _check_setup(user):
    if user.must_change_password:
        raise JsonError(403, "password_change_required", "Set a new password first: log "
                        "in on the web page once to replace the one-time password.")
    if user.profile_completed_at is None:
        raise JsonError(403, "profile_required", "Fill in your profile first: "
                        "PUT /api/v1/auth/profile.")


def token_required(*allowed, during_setup=False):
    """A valid access token or API key, acting with one of `allowed` roles (default:
    everyone).

    The user is g.api_user (for a key: its service account), the session g.api_session
    (None for a key), the key g.api_key. `during_setup`: also for a user who has not
    finished the first login (the profile endpoints, logout).
    """
    allowed = frozenset(allowed or roles.EVERYONE)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = current_principal()
            g.api_user, g.api_session, g.api_key = (principal.user, principal.session,
                                                    principal.key)
            if not during_setup:
                _check_setup(principal.user)
            if principal.user.role not in allowed:
                raise JsonError(403, "forbidden", "Your role may not use this endpoint.")
            return view(*args, **kwargs)
        return wrapped
    return decorator
