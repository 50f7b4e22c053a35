"""Accounts, passwords and login throttling. Services flush; the caller commits."""

import re
import secrets
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import contains_text, utcnow

from . import roles
from .models import LoginAttempt, User

# No 0/O, 1/l/I: people read these off a screen and type them on a tablet.
READABLE = "abcdefghjkmnpqrstuvwxyz23456789"
USERNAME_PREFIX = {
    roles.ADMIN: "admin", roles.PRODUCTION_MANAGER: "pm", roles.SHIFT_MANAGER: "sm",
    roles.ENGINEER: "eng", roles.MAINTENANCE: "mnt", roles.QUALITY: "qa",
    roles.OPERATOR: "op", roles.VIEWER: "view",
}
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


class LoginThrottled(Exception):
    def __init__(self, minutes):
        self.minutes = minutes
        super().__init__(f"Too many failed logins. Try again in {minutes} minutes.")


def _random(n):
    return "".join(secrets.choice(READABLE) for _ in range(n))


def generate_password():
    """A one-time password in three groups, e.g. k7mq-x2pw-h4nr (about 74 bits)."""
    return "-".join(_random(5) for _ in range(3))


def generate_username(role):
    while True:
        candidate = f"{USERNAME_PREFIX[role]}-{_random(5)}"
        if not find_user(candidate):
            return candidate


def hash_password(password):
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def find_user(username):
    username = (username or "").strip().lower()
    return db.session.scalar(select(User).where(User.username == username))


@lru_cache(maxsize=1)
def _common_passwords():
    path = Path(__file__).with_name("common_passwords.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def password_problems(password, username=""):
    """Plain-language reasons a new password is refused (empty list: acceptable)."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    problems = []
    if len(password) < minimum:
        problems.append(f"Use at least {minimum} characters.")
    lowered = password.lower()
    # "Password2026!" is as guessable as "password".
    stem = re.sub(r"[\d\W_]+$", "", lowered)
    if lowered in _common_passwords() or stem in _common_passwords():
        problems.append("This password is too common; choose one that is hard to guess.")
    elif len(set(password)) < 4:
        problems.append("Use more different characters.")
    if username and username.lower() in lowered:
        problems.append("Do not use your username in your password.")
    return problems


def validate_role(role):
    if role not in roles.ROLES:
        raise ValidationFailed({"role": f"Unknown role '{role}'. Roles: {', '.join(roles.ROLES)}."})


def validate_username(username):
    if not USERNAME_RE.match(username):
        raise ValidationFailed({"username": "Use 3–64 lower-case letters, digits, dots, "
                                            "dashes or underscores, starting with a letter or digit."})
    if find_user(username):
        raise ValidationFailed({"username": f"The username '{username}' is taken."})


def _check_employee_number(number, user=None):
    if not number:
        return
    query = select(User.id).where(User.employee_number == number)
    if user is not None and user.id is not None:
        query = query.where(User.id != user.id)
    if db.session.scalar(query):
        raise ValidationFailed({"employee_number": f"Employee number {number} belongs to someone else."})


def create_account(role, username, password, full_name="", created_by=None,
                   must_change_password=False, **profile):
    """Create a user as given, no role checks: the CLI and the services below use it."""
    validate_role(role)
    username = (username or "").strip().lower()
    validate_username(username)
    problems = [] if must_change_password else password_problems(password, username)
    if problems:
        raise ValidationFailed({"password": " ".join(problems)})
    _check_employee_number(profile.get("employee_number"))
    user = User(username=username, role=role, full_name=full_name.strip(),
                password_hash=hash_password(password), created_by=created_by,
                must_change_password=must_change_password, **profile)
    if not must_change_password:
        user.profile_completed_at = utcnow()
    db.session.add(user)
    db.session.flush()
    return user


def create_user(actor, role, full_name="", shift=None, employee_number=None,
                lines=(), machines=()):
    """A manager or admin makes an account; returns (user, one-time password) to show once."""
    validate_role(role)
    if not roles.can_create(actor.role, role):
        raise Forbidden(f"A {actor.role_label.lower()} may not create {roles.ROLE_LABELS[role]} accounts.")
    password = generate_password()
    user = create_account(role, generate_username(role), password, full_name=full_name,
                          created_by=actor, must_change_password=True,
                          shift=shift or None, employee_number=employee_number or None)
    user.lines = list(lines)
    user.machines = list(machines)
    db.session.flush()
    return user, password


def set_password(user, new_password, current_password=None):
    errors = {}
    if current_password is not None and not check_password_hash(user.password_hash,
                                                                current_password):
        errors["current_password"] = "That is not your current password."
    problems = password_problems(new_password, user.username)
    if not problems and check_password_hash(user.password_hash, new_password):
        problems.append("Choose a password different from the one you have now.")
    if problems:
        errors["password"] = " ".join(problems)
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hash_password(new_password)
    user.must_change_password = False
    # Ends the user's other web sessions and every API token; the page that changed it
    # logs its own session in again with the new version.
    user.session_version += 1
    db.session.flush()


def update_profile(user, full_name, employee_number, phone, shift, lines=None,
                   machines=None):
    full_name = (full_name or "").strip()
    if not full_name:
        raise ValidationFailed({"full_name": "Enter your full name."})
    _check_employee_number(employee_number, user)
    user.full_name = full_name
    user.employee_number = employee_number or None
    user.phone = phone or None
    user.shift = shift or None
    if lines is not None:
        user.lines = list(lines)
    if machines is not None:
        user.machines = list(machines)
    if user.profile_completed_at is None:
        user.profile_completed_at = utcnow()
    db.session.flush()


def _require_manage(actor, user):
    if not roles.can_manage_user(actor, user):
        raise Forbidden("You may not manage this account.")


def reset_password(actor, user):
    """New one-time password; the user is logged out everywhere and must change it."""
    _require_manage(actor, user)
    password = generate_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    user.session_version += 1
    db.session.flush()
    return password


def set_active(actor, user, active):
    _require_manage(actor, user)
    if user.active != active:
        user.active = active
        user.session_version += 1  # web sessions and API tokens end at once
    db.session.flush()


def change_role(actor, user, role):
    """A manager gives someone another role they may hand out; their sessions and tokens
    end at once, since each carries what the old role allowed."""
    _require_manage(actor, user)
    validate_role(role)
    if not roles.can_create(actor.role, role):
        raise Forbidden(f"A {actor.role_label.lower()} may not make anyone "
                        f"{roles.ROLE_LABELS[role]}.")
    if user.role != role:
        user.role = role
        user.session_version += 1
    db.session.flush()


def update_assignments(actor, user, lines, machines, shift=None):
    _require_manage(actor, user)
    user.lines = list(lines)
    user.machines = list(machines)
    if shift is not None:
        user.shift = shift or None
    db.session.flush()


def _recent_failures(column, value, since):
    query = select(func.count()).select_from(LoginAttempt).where(
        column == value, LoginAttempt.attempted_at >= since)
    return db.session.scalar(query)


def check_throttle(username, address):
    minutes = current_app.config["LOGIN_LOCKOUT_MINUTES"]
    since = utcnow() - timedelta(minutes=minutes)
    too_many_for_user = (_recent_failures(LoginAttempt.username, username, since)
                         >= current_app.config["LOGIN_MAX_FAILURES_PER_USER"])
    too_many_from_address = (_recent_failures(LoginAttempt.address, address, since)
                             >= current_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"])
    if too_many_for_user or too_many_from_address:
        raise LoginThrottled(minutes)


def authenticate(username, password, address):
    """The user for these credentials, or None; failures are recorded for throttling.

    The caller must commit even when None comes back, or the failure is not counted.
    """
    username = (username or "").strip().lower()
    check_throttle(username, address)
    user = find_user(username)
    ok = user is not None and check_password_hash(user.password_hash, password or "")
    if ok and not user.active:
        raise ValidationFailed("This account is deactivated. Ask a manager to reactivate it.")
    if not ok:
        db.session.add(LoginAttempt(username=username[:64], address=address[:64]))
        db.session.flush()
        return None
    db.session.execute(delete(LoginAttempt).where(LoginAttempt.username == username))
    user.last_login_at = utcnow()
    db.session.flush()
    return user


def prune_login_attempts(days=1):
    cutoff = utcnow() - timedelta(days=days)
    result = db.session.execute(delete(LoginAttempt).where(LoginAttempt.attempted_at < cutoff))
    return result.rowcount


def search_users(query="", role="", status="active"):
    stmt = select(User).where(User.service_account.is_(False)).order_by(User.username)
    if query:
        stmt = stmt.where(contains_text(query, User.username, User.full_name,
                                        User.employee_number))
    if role:
        stmt = stmt.where(User.role == role)
    if status == "active":
        stmt = stmt.where(User.active.is_(True))
    elif status == "inactive":
        stmt = stmt.where(User.active.is_(False))
    return stmt
