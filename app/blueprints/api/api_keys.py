"""API keys for service accounts (administrators), through auth.keys as the page uses it.

The secret is in the answer to the create, once; lists and reads show only its prefix.
"""

import marshmallow as ma
from flask import g
from marshmallow import validate

from app.blueprints.auth import keys, roles
from app.blueprints.auth.models import ApiKey
from app.core.extensions import db

from . import bp
from .rows import created, get_visible
from .schemas import PageQuery, PersonSchema, Text, page_schema, paginated
from .tokens import token_required

ADMINS = (roles.ADMIN,)


class ApiKeySchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    role = ma.fields.String(required=True, metadata={"enum": list(keys.KEY_ROLES)})
    hint = ma.fields.String(required=True, metadata={
        "description": "The key's public start; the secret is never shown again."})
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)
    created_by = ma.fields.Nested(PersonSchema, required=True)
    last_used_at = ma.fields.DateTime(required=True, allow_none=True, metadata={
        "description": "Updated at most once a minute."})
    revoked_at = ma.fields.DateTime(required=True, allow_none=True)
    revoked_by = ma.fields.Nested(PersonSchema, required=True, allow_none=True)


class NewApiKeySchema(ApiKeySchema):
    key = ma.fields.String(required=True, metadata={
        "description": "The key itself, shown only in this answer: send it as "
                       "Authorization: Bearer <key> or X-API-Key: <key>."})


class ApiKeyInput(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=keys.NAME_MAX))
    role = ma.fields.String(required=True, validate=validate.OneOf(keys.KEY_ROLES),
                            metadata={"description": "Not admin (a key could mint keys) "
                                                     "nor operator (bound to machines)."})


def load_key(key_id):
    return get_visible(ApiKey, key_id, "API key")


@bp.get("/api-keys", tags=["api-keys"])
@token_required(*ADMINS)
@bp.arguments(PageQuery, location="query")
@bp.response(200, page_schema(ApiKeySchema))
def list_api_keys(args):
    """Every key, active ones first (administrators)."""
    return paginated(keys.keys_query(), args)


@bp.post("/api-keys", tags=["api-keys"])
@token_required(*ADMINS)
@bp.arguments(ApiKeyInput)
@bp.response(201, NewApiKeySchema)
def create_api_key(values):
    """Make a key for a service account; the answer holds the key, once (administrators)."""
    key, secret = keys.create_api_key(g.api_user, values["name"], values["role"])
    key.key = secret  # for this answer only; the row keeps a hash
    row, headers = created(key, "api.get_api_key", key_id=key.id)
    # Neither a cache nor the Idempotency-Key store may keep the secret (idempotency.py).
    return row, {**headers, "Cache-Control": "no-store"}


@bp.get("/api-keys/<int:key_id>", tags=["api-keys"])
@token_required(*ADMINS)
@bp.response(200, ApiKeySchema)
def get_api_key(key_id):
    """One key, without its secret (administrators)."""
    return load_key(key_id)


@bp.post("/api-keys/<int:key_id>/revoke", tags=["api-keys"])
@token_required(*ADMINS)
@bp.response(200, ApiKeySchema)
def revoke_api_key(key_id):
    """Revoke a key: calls with it fail from now on (administrators; 422 when revoked)."""
    key = load_key(key_id)
    keys.revoke_api_key(g.api_user, key)
    db.session.commit()
    return key
