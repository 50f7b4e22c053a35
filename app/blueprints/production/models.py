from app.core.extensions import db
from app.core.models import TimestampMixin, UTCDateTime, utcnow

DOWNTIME_SOURCES = ("issue", "andon", "manual")


class Downtime(TimestampMixin, db.Model):
    """A stretch of time a machine could not run; open while ended_at is empty."""

    __tablename__ = "downtimes"

    id = db.Column(db.Integer, primary_key=True)
    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), nullable=False,
                           index=True)
    machine = db.relationship("Machine")
    started_at = db.Column(UTCDateTime(), nullable=False)
    ended_at = db.Column(UTCDateTime())
    reason = db.Column(db.String(200), nullable=False, default="")
    source = db.Column(db.String(16), nullable=False)
    issue_id = db.Column(db.ForeignKey("issues.id", ondelete="SET NULL"), index=True)

    @property
    def hours(self):
        end = self.ended_at or utcnow()
        return (end - self.started_at).total_seconds() / 3600
