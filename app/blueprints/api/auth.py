"""Log in, refresh, log out, and one's own profile, through auth's services and rules.

/token/ and /token/refresh/ answer as /auth/login and /auth/refresh do: the clients of the
equipment-monitoring seed call those paths.
"""

import marshmallow as ma
from flask import g, request
from marshmallow import validate

from app.blueprints.auth import roles, services
from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import bp, tokens
from .errors import JsonError
from .rows import changed
from .schemas import RefSchema, Text

SHIFTS = [code for code, _ in roles.SHIFTS if code]


class LoginSchema(ma.Schema):
    username = Text(required=True, validate=validate.Length(max=64))
    password = Text(required=True, validate=validate.Length(max=1024))


class RefreshSchema(ma.Schema):
    refresh_token = Text(required=True, validate=validate.Length(max=4096))


class TokenPairSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(required=True, metadata={
        "description": "Seconds the access token lives."})
    refresh_expires_in = ma.fields.Integer(required=True, metadata={
        "description": "Seconds the refresh token lives."})


class ProfileSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    username = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    full_name = ma.fields.String(required=True)
    employee_number = ma.fields.String(required=True, allow_none=True)
    phone = ma.fields.String(required=True, allow_none=True)
    shift = ma.fields.String(required=True, allow_none=True)
    line_ids = ma.fields.Pluck(RefSchema, "id", many=True, attribute="lines",
                               required=True)
    machine_ids = ma.fields.Pluck(RefSchema, "id", many=True, attribute="machines",
                                  required=True)
    profile_completed_at = ma.fields.DateTime(required=True, allow_none=True)
    last_login_at = ma.fields.DateTime(required=True, allow_none=True)


class ProfileInput(ma.Schema):
    full_name = Text(required=True, validate=validate.Length(max=120))
    employee_number = Text(load_default=None, allow_none=True,
                           validate=validate.Length(max=32))
    phone = Text(load_default=None, allow_none=True, validate=validate.Length(max=32))
    shift = ma.fields.String(load_default=None, allow_none=True,
                             validate=validate.OneOf(SHIFTS))


def _login(credentials):
    try:
        user = services.authenticate(credentials["username"], credentials["password"],
                                     request.remote_addr or "unknown")
    except services.LoginThrottled as exc:
        db.session.commit()
        raise JsonError(429, "too_many_requests", str(exc),
                        headers={"Retry-After": str(exc.minutes * 60)}) from None
    except ValidationFailed as exc:
        raise JsonError(403, "account_inactive", str(exc)) from None
    db.session.commit()  # a failure is counted for throttling only once committed
    if user is None:
        raise JsonError(401, "invalid_credentials", "Wrong username or password.")
    if user.must_change_password:
        raise JsonError(403, "password_change_required", "Set a new password first: log "
                        "in on the web page once to replace the one-time password.")
    pair = tokens.open_session(user)
    db.session.commit()
    return pair


def _refresh(body):
    pair = tokens.rotate(body["refresh_token"])
    db.session.commit()
    return pair


@bp.post("/auth/login", tags=["auth"])
@bp.doc(security=[])
@bp.arguments(LoginSchema)
@bp.response(200, TokenPairSchema)
def login(credentials):
    """Log in: an access token (minutes) and a refresh token (hours)."""
    return _login(credentials)


@bp.post("/token/", tags=["auth"])
@bp.doc(security=[])
@bp.arguments(LoginSchema)
@bp.response(200, TokenPairSchema)
def token(credentials):
    """Log in (the equipment-monitoring seed's path): as POST /auth/login."""
    return _login(credentials)


@bp.post("/auth/refresh", tags=["auth"])
@bp.doc(security=[])
@bp.arguments(RefreshSchema)
@bp.response(200, TokenPairSchema)
def refresh(body):
    """A new token pair for a refresh token, which is then spent: use each one once."""
    return _refresh(body)


@bp.post("/token/refresh/", tags=["auth"])
@bp.doc(security=[])
@bp.arguments(RefreshSchema)
@bp.response(200, TokenPairSchema)
def token_refresh(body):
    """Refresh (the equipment-monitoring seed's path): as POST /auth/refresh."""
    return _refresh(body)


@bp.post("/auth/logout", tags=["auth"])
@tokens.token_required(during_setup=True)
@bp.response(204)
def logout():
    """End this login: its access and refresh tokens stop working at once."""
    if g.api_session is None:
        raise JsonError(403, "forbidden", "An API key is not a login: an administrator "
                                          "revokes it (POST /api/v1/api-keys/{id}/revoke).")
    tokens.revoke(g.api_session, "logout")
    db.session.commit()


@bp.get("/auth/profile", tags=["auth"])
@tokens.token_required(during_setup=True)
@bp.etag
@bp.response(200, ProfileSchema)
def profile():
    """Who the token belongs to."""
    return g.api_user


@bp.put("/auth/profile", tags=["auth"])
@tokens.token_required(during_setup=True)
@bp.etag
@bp.arguments(ProfileInput)
@bp.response(200, ProfileSchema)
def update_profile(changes):
    """Change one's own details (send If-Match with the ETag of the GET)."""
    return changed(g.api_user, ProfileSchema, lambda user: services.update_profile(
        user, changes["full_name"], changes["employee_number"], changes["phone"],
        changes["shift"]))
