"""API keys for service accounts: made and revoked by admins, checked on every API call.

A key looks like `flk_<prefix>_<secret>`: the `flk_` start tells it from a JWT in the
same Authorization header, the prefix finds its row, and only a SHA-256 of the whole key
is stored. The key acts as a service-account user of its own with the key's role, so the
API's role rules and every history line ("MES acknowledged ...") need nothing new.
Services flush; the caller commits.
"""

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import utcnow

from . import roles
from .models import ApiKey, User

KEY_START = "flk_"
PREFIX_RE = re.compile(r"[0-9a-f]{8}")
# Admins mint keys, so an admin key could mint more and manage people: a leaked one would
# own the plant. An operator sees only the machines assigned to it, and a key stands at
# no machine. Every other role fits an integration.
KEY_ROLES = tuple(r for r in roles.ROLES if r not in (roles.ADMIN, roles.OPERATOR))
NAME_MAX = 80
# last_used_at is written at most this often per key: a busy key costs no write per call.
TOUCH_EVERY = timedelta(minutes=1)


def _hash(key):
    return hashlib.sha256(key.encode()).hexdigest()


def _new_prefix():
    while True:
        prefix = secrets.token_hex(4)
        if not db.session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)):
            return prefix


def _check_admin(actor):
    if actor.role != roles.ADMIN:
        raise Forbidden("Only administrators manage API keys.")


def _check_new_key(name, role):
    errors = {}
    if not name:
        errors["name"] = "Name the key after what uses it, e.g. \"MES line 1\"."
    elif len(name) > NAME_MAX:
        errors["name"] = f"Use at most {NAME_MAX} characters."
    elif db.session.scalar(select(ApiKey.id).where(ApiKey.name == name,
                                                   ApiKey.revoked_at.is_(None))):
        errors["name"] = f"An active key is already named \"{name}\"."
    if role not in KEY_ROLES:
        labels = ", ".join(roles.ROLE_LABELS[r] for r in KEY_ROLES)
        errors["role"] = f"A key may have one of these roles: {labels}."
    if errors:
        raise ValidationFailed(errors)


def create_api_key(actor, name, role):
    """A new key and its secret, which is shown once and never stored."""
    _check_admin(actor)
    name = (name or "").strip()
    _check_new_key(name, role)
    prefix = _new_prefix()
    secret = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    # "!" is no password hash: nothing ever logs in as the account; inactive keeps it
    # off every list of people (pickers, notifications) without those lists knowing.
    account = User(username=f"key-{prefix}", role=role, full_name=name,
                   password_hash="!", active=False, service_account=True,
                   created_by=actor, profile_completed_at=utcnow())
    key = ApiKey(name=name, prefix=prefix, secret_hash=_hash(secret), account=account,
                 created_by=actor)
    db.session.add(key)
    db.session.flush()
    return key, secret


def revoke_api_key(actor, key):
    _check_admin(actor)
    if key.revoked_at is not None:
        raise ValidationFailed(f"The key \"{key.name}\" is revoked already.")
    key.revoked_at, key.revoked_by = utcnow(), actor
    db.session.flush()


def looks_like_key(text):
    return text.startswith(KEY_START)


def find_key(secret):
    """The key row for a presented secret (revoked ones too), or None."""
    prefix, _, rest = secret.removeprefix(KEY_START).partition("_")
    if not rest or not PREFIX_RE.fullmatch(prefix):  # nothing odd reaches the query
        return None
    key = db.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    return key


def touch(key):
    """Record that the key was used, at most once a minute; True when a row was written.

    The condition sits in the UPDATE, so several processes racing write it once.
    """
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < TOUCH_EVERY:
        return False
    result = db.session.execute(
        update(ApiKey).where(ApiKey.id == key.id, (ApiKey.last_used_at.is_(None))
                             | (ApiKey.last_used_at < now - TOUCH_EVERY))
        .values(last_used_at=now).execution_options(synchronize_session=False))
    set_committed_value(key, "last_used_at", now)  # written above, not again on flush
    return result.rowcount == 1


def keys_query():
    """Active keys first, newest first; revoked ones after, for the record."""
    return select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc(),
                                   ApiKey.id.desc())
