from app.blueprints.auth.models import User
from app.core.extensions import db
from app.core.models import TimestampMixin, UTCDateTime


class ApiSession(TimestampMixin, db.Model):
    """One API login: the family of tokens it hands out, until logout or misuse ends it.

    Kept in the database, not in Redis: a revoked token must stay revoked in every web
    process even when Redis is lost.
    """

    __tablename__ = "api_sessions"

    id = db.Column(db.String(32), primary_key=True)  # the tokens' "sid" claim
    user_id = db.Column(db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    user = db.relationship(User)
    # Only the newest refresh token is valid; an older one coming back means a replay.
    refresh_jti = db.Column(db.String(32), nullable=False)
    expires_at = db.Column(UTCDateTime(), nullable=False)
    revoked_at = db.Column(UTCDateTime())
    revoked_reason = db.Column(db.String(32))
