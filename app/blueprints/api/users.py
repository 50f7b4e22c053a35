"""People, for admins and managers as on /auth/users: list, get, create (the one-time
password is in the answer once, as on the page), change assignments, reset the password,
deactivate and reactivate — all through auth.services, so a manager manages only the roles
it may create and nobody manages themselves. A password hash never leaves the server.
"""

import marshmallow as ma
from flask import g
from marshmallow import validate
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles, services
from app.blueprints.auth.models import User
from app.blueprints.machines.models import Line, Machine
from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import bp
from .rows import changed, get_visible
from .schemas import Id, PageQuery, RefSchema, Text, page_schema, paginated, sort_field, sorted_by
from .tokens import token_required

SHIFTS = [code for code, _ in roles.SHIFTS if code]
STATUSES = ["active", "inactive", "all"]
SORTS = {"id": User.id, "username": User.username, "full_name": User.full_name,
         "role": User.role, "last_login_at": User.last_login_at,
         "created_at": User.created_at}
NO_STORE = {"Cache-Control": "no-store"}


class UserSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    username = ma.fields.String(required=True)
    role = ma.fields.String(required=True, metadata={"enum": list(roles.ROLES)})
    full_name = ma.fields.String(required=True)
    employee_number = ma.fields.String(required=True, allow_none=True)
    phone = ma.fields.String(required=True, allow_none=True)
    shift = ma.fields.String(required=True, allow_none=True)
    active = ma.fields.Boolean(required=True)
    must_change_password = ma.fields.Boolean(required=True, metadata={
        "description": "Still has the one-time password."})
    profile_completed_at = ma.fields.DateTime(required=True, allow_none=True)
    last_login_at = ma.fields.DateTime(required=True, allow_none=True)
    line_ids = ma.fields.Pluck(RefSchema, "id", many=True, attribute="lines", required=True)
    machine_ids = ma.fields.Pluck(RefSchema, "id", many=True, attribute="machines",
                                  required=True)
    manageable = ma.fields.Method("_manageable", required=True, metadata={
        "type": "boolean", "description": "Whether you may change this account."})
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)

    def _manageable(self, user):
        return roles.can_manage_user(g.api_user, user)


class CredentialsSchema(ma.Schema):
    user = ma.fields.Nested(UserSchema, required=True)
    one_time_password = ma.fields.String(required=True, metadata={
        "description": "Shown this once; the user must replace it at the first login."})


class UserQuery(PageQuery):
    q = Text(validate=validate.Length(max=100), metadata={
        "description": "Text in the username, full name or employee number."})
    role = ma.fields.String(validate=validate.OneOf(roles.ROLES))
    status = ma.fields.String(load_default="active", validate=validate.OneOf(STATUSES))
    sort = sort_field(SORTS, "username")


class AssignmentInput(ma.Schema):
    line_ids = ma.fields.List(Id())
    machine_ids = ma.fields.List(Id())
    shift = ma.fields.String(allow_none=True, validate=validate.OneOf([*SHIFTS, ""]))


class UserInput(AssignmentInput):
    role = ma.fields.String(required=True, validate=validate.OneOf(roles.ROLES))
    full_name = Text(validate=validate.Length(max=120))
    employee_number = Text(allow_none=True, validate=validate.Length(max=32))


def load_user(user_id):
    return get_visible(User, user_id, "user")


def _existing(model, ids, field):
    rows = [db.session.get(model, i) for i in ids]
    missing = [str(i) for i, row in zip(ids, rows, strict=True) if row is None]
    if missing:
        raise ValidationFailed({field: f"Nothing with id {', '.join(missing)}."})
    return rows


def _workplace(values, user=None):
    lines = values.get("line_ids", [ln.id for ln in user.lines] if user else [])
    machines = values.get("machine_ids", [m.id for m in user.machines] if user else [])
    return _existing(Line, lines, "line_ids"), _existing(Machine, machines, "machine_ids")


@bp.get("/users", tags=["users"])
@token_required(*roles.MANAGERS)
@bp.arguments(UserQuery, location="query")
@bp.response(200, page_schema(UserSchema))
def list_users(args):
    """Accounts (active ones by default), as on the people page (managers)."""
    stmt = services.search_users(args.get("q", ""), args.get("role", ""), args["status"])
    stmt = stmt.options(selectinload(User.lines), selectinload(User.machines))
    return paginated(sorted_by(stmt, args["sort"], SORTS), args)


@bp.post("/users", tags=["users"])
@token_required(*roles.MANAGERS)
@bp.arguments(UserInput)
@bp.response(201, CredentialsSchema, headers={"Cache-Control": {
    "description": "no-store: the password is not kept anywhere on the way",
    "schema": {"type": "string"}}})
def create_user(values):
    """Make an account (managers: operators, maintenance, quality, viewers; admins: any).
    The username and one-time password come back once."""
    lines, machines = _workplace(values)
    user, password = services.create_user(
        g.api_user, values["role"], full_name=values.get("full_name") or "",
        shift=values.get("shift"), employee_number=values.get("employee_number"),
        lines=lines, machines=machines)
    db.session.commit()
    return {"user": user, "one_time_password": password}, 201, NO_STORE


@bp.get("/users/<int:user_id>", tags=["users"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(200, UserSchema)
def get_user(user_id):
    """One account (managers)."""
    return load_user(user_id)


@bp.patch("/users/<int:user_id>", tags=["users"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(AssignmentInput)
@bp.response(200, UserSchema)
def update_user(values, user_id):
    """Change where someone works: lines, machines, shift (as the assignments page;
    If-Match)."""
    user = load_user(user_id)
    lines, machines = _workplace(values, user)
    shift = values.get("shift", user.shift) or ""
    return changed(user, UserSchema, lambda u: services.update_assignments(
        g.api_user, u, lines, machines, shift))


@bp.post("/users/<int:user_id>/deactivate", tags=["users"])
@token_required(*roles.MANAGERS)
@bp.response(200, UserSchema)
def deactivate_user(user_id):
    """Stop an account: its web sessions and API tokens end at once. History keeps it."""
    user = load_user(user_id)
    services.set_active(g.api_user, user, False)
    db.session.commit()
    return user


@bp.post("/users/<int:user_id>/reactivate", tags=["users"])
@token_required(*roles.MANAGERS)
@bp.response(200, UserSchema)
def reactivate_user(user_id):
    """Let an account log in again."""
    user = load_user(user_id)
    services.set_active(g.api_user, user, True)
    db.session.commit()
    return user


@bp.post("/users/<int:user_id>/reset-password", tags=["users"])
@token_required(*roles.MANAGERS)
@bp.response(200, CredentialsSchema)
def reset_user_password(user_id):
    """A new one-time password, shown once; the user's sessions and tokens end."""
    user = load_user(user_id)
    password = services.reset_password(g.api_user, user)
    db.session.commit()
    return {"user": user, "one_time_password": password}, 200, NO_STORE
