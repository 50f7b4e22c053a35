from app.blueprints.machines.models import MachineRecord
from app.core.extensions import db
from app.core.models import TimestampMixin, UTCDateTime, utcnow

DOWNTIME_SOURCES = ("issue", "andon", "manual")


class Downtime(MachineRecord, TimestampMixin, db.Model):
    """A stretch of time a machine could not run; open while ended_at is empty."""

    __tablename__ = "downtimes"

    started_at = db.Column(UTCDateTime(), nullable=False)
    ended_at = db.Column(UTCDateTime())
    reason = db.Column(db.String(200), nullable=False, default="")
    source = db.Column(db.String(16), nullable=False)
    issue_id = db.Column(db.ForeignKey("issues.id", ondelete="SET NULL"), index=True)

    @property
    def hours(self):
        end = self.ended_at or utcnow()
        return (end - self.started_at).total_seconds() / 3600
