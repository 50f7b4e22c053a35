from flask_login import UserMixin

from app.core.extensions import db
from app.core.models import TimestampMixin, UTCDateTime, utcnow

from . import roles


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), nullable=False, unique=True)
    password_hash = db.Column(db.String(256), nullable=False)
    role = db.Column(db.String(32), nullable=False, index=True)
    full_name = db.Column(db.String(120), nullable=False, default="")
    employee_number = db.Column(db.String(32))
    phone = db.Column(db.String(32))
    shift = db.Column(db.String(16))
    active = db.Column(db.Boolean, nullable=False, default=True)
    # Set for accounts made with a one-time password: the next login must replace it.
    must_change_password = db.Column(db.Boolean, nullable=False, default=False)
    profile_completed_at = db.Column(UTCDateTime())
    # Part of the session id: bumping it logs the user out everywhere (reset, deactivate).
    session_version = db.Column(db.Integer, nullable=False, default=1)
    last_login_at = db.Column(UTCDateTime())
    created_by_id = db.Column(db.Integer, db.ForeignKey("users.id"))
    created_by = db.relationship("User", remote_side=[id])
    # The identity an API key acts as (keys.py): it never logs in and is never a person
    # on the People page, in pickers or on notification lists.
    service_account = db.Column(db.Boolean, nullable=False, default=False,
                                server_default=db.false())

    __table_args__ = (
        db.UniqueConstraint("employee_number"),
    )

    def get_id(self):
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self):
        return self.active

    @property
    def is_manager(self):
        return self.role in roles.MANAGERS

    @property
    def is_admin(self):
        return self.role == roles.ADMIN

    @property
    def is_machine_bound(self):
        return self.role in roles.MACHINE_BOUND

    @property
    def role_label(self):
        return roles.ROLE_LABELS.get(self.role, self.role)

    @property
    def display_name(self):
        return self.full_name or self.username

    @property
    def needs_setup(self):
        return self.must_change_password or self.profile_completed_at is None

    def __repr__(self):
        return f"<User {self.username} {self.role}>"


class LoginAttempt(db.Model):
    """Failed logins, counted per username and per address for throttling."""

    __tablename__ = "login_attempts"

    id = db.Column(db.Integer, primary_key=True)
    username = db.Column(db.String(64), nullable=False, index=True)
    address = db.Column(db.String(64), nullable=False, index=True)
    attempted_at = db.Column(UTCDateTime(), nullable=False, default=utcnow,
                             index=True)


class ApiKey(TimestampMixin, db.Model):
    """A long-lived key for a service account (MES, ERP, a plant script).

    The key acts as its own service-account user (`account`), with the key's role, so
    every rule and every history line works as for a person and names the key. Only a
    SHA-256 of the secret is kept: keys are long random strings, so a fast hash is as
    safe as a slow one, and it costs nothing on every call.
    """

    __tablename__ = "api_keys"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    # The public part of the key (flk_<prefix>_<secret>): finds the row, shown in lists.
    prefix = db.Column(db.String(16), nullable=False, unique=True)
    secret_hash = db.Column(db.String(64), nullable=False)
    account_id = db.Column(db.ForeignKey("users.id"), nullable=False, unique=True)
    account = db.relationship(User, foreign_keys=[account_id])
    created_by_id = db.Column(db.ForeignKey("users.id"), nullable=False)
    created_by = db.relationship(User, foreign_keys=[created_by_id])
    last_used_at = db.Column(UTCDateTime())
    revoked_at = db.Column(UTCDateTime())
    revoked_by_id = db.Column(db.ForeignKey("users.id"))
    revoked_by = db.relationship(User, foreign_keys=[revoked_by_id])

    @property
    def role(self):
        return self.account.role

    @property
    def role_label(self):
        return self.account.role_label

    @property
    def active(self):
        return self.revoked_at is None

    @property
    def hint(self):
        """How lists show a key without its secret."""
        return f"flk_{self.prefix}_…"

    def __repr__(self):
        return f"<ApiKey {self.prefix} {self.name}>"
