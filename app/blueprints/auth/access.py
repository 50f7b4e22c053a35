"""Server-side role checks used by every view."""

from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user, login_required

from app.core.extensions import db

from . import roles


def roles_required(*allowed):
    """Login required, then one of `allowed` roles, else 403."""
    allowed = frozenset(allowed)

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def get_or_403(model, ident, may_see):
    """The row, or 404; 403 when `may_see(current_user, row)` says the user may not see it.
    Every domain's `load_*` goes through here so the order (exists, then allowed) is one."""
    row = db.get_or_404(model, ident)
    if not may_see(current_user, row):
        abort(403)
    return row


def managers_only(view):
    return roles_required(*roles.MANAGERS)(view)


def everyone(view):
    """Any logged-in user; spelled out so the role table reads the same everywhere."""
    return login_required(view)


# Endpoints a user with an unfinished first login may still reach.
SETUP_ENDPOINTS = {"auth.first_password", "auth.first_profile", "auth.logout", "auth.login",
                   "static", "ops.health"}


def enforce_first_login():
    """Before every request: a new user sets a password and profile before anything else."""
    # Checked first so static files never load the user from the database.
    if request.endpoint in SETUP_ENDPOINTS:
        return None
    if not current_user.is_authenticated or not current_user.needs_setup:
        return None
    target = ("auth.first_password" if current_user.must_change_password
              else "auth.first_profile")
    return redirect(url_for(target))
