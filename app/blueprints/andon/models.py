"""Andon calls from the floor and the escalation ladder they climb while nobody answers."""


from app.blueprints.machines.models import MachineRecord
from app.blueprints.production import models as _production_models  # noqa: F401  (Downtime)
from app.blueprints.telemetry.models import JSONValue
from app.core import models as core
from app.core.extensions import db
from app.core.models import PRIORITIES, ChoiceLabel, HistoryEventMixin, TimestampMixin, UTCDateTime, utcnow

ANDON_KINDS = (("stoppage", "Stoppage"), ("quality", "Quality"), ("material", "Material"),
               ("maintenance", "Maintenance"), ("safety", "Safety"))
ANDON_PRIORITIES = PRIORITIES
ANDON_STATUSES = (("open", "Open"), ("acknowledged", "Acknowledged"),
                  ("resolved", "Resolved"))
# An escalation level fires when a call is still unacknowledged (or unresolved) this long.
ESCALATION_STAGES = (("acknowledge", "Not acknowledged"), ("resolve", "Not resolved"))


class EscalationLevel(TimestampMixin, db.Model):
    """One rung of the ladder for one priority: after N minutes, tell these roles."""

    __tablename__ = "escalation_levels"

    id = db.Column(db.Integer, primary_key=True)
    priority = db.Column(db.String(16), nullable=False)
    stage = db.Column(db.String(16), nullable=False, default="acknowledge")
    level = db.Column(db.Integer, nullable=False)
    after_minutes = db.Column(db.Integer, nullable=False)
    roles = db.Column(JSONValue, nullable=False, default=list)

    __table_args__ = (db.UniqueConstraint("priority", "stage", "level"),)


class AndonCall(MachineRecord, TimestampMixin, db.Model):
    __tablename__ = "andon_calls"

    kind = db.Column(db.String(16), nullable=False)
    priority = db.Column(db.String(16), nullable=False, default="medium")
    note = db.Column(db.Text, nullable=False, default="")
    photo_name = db.Column(db.String(64))          # stored under a random name
    photo_type = db.Column(db.String(64))
    status = db.Column(db.String(16), nullable=False, default="open", index=True)
    raised_by_id = db.Column(db.ForeignKey("users.id"), nullable=False)
    raised_by = db.relationship("User", foreign_keys=[raised_by_id])
    raised_at = db.Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    acknowledged_at = db.Column(UTCDateTime())
    acknowledged_by_id = db.Column(db.ForeignKey("users.id"))
    acknowledged_by = db.relationship("User", foreign_keys=[acknowledged_by_id])
    resolved_at = db.Column(UTCDateTime())
    resolved_by_id = db.Column(db.ForeignKey("users.id"))
    resolved_by = db.relationship("User", foreign_keys=[resolved_by_id])
    resolution_note = db.Column(db.Text, nullable=False, default="")
    # Highest level reached so far, per stage; 0: not escalated.
    ack_level = db.Column(db.Integer, nullable=False, default=0)
    resolve_level = db.Column(db.Integer, nullable=False, default=0)
    downtime_id = db.Column(db.ForeignKey("downtimes.id", ondelete="SET NULL"))
    downtime = db.relationship("Downtime")
    events = core.history("AndonEvent", "call")

    __table_args__ = (
        # No second active call of the same kind for the same machine.
        core.unique_while("uq_andon_calls_active_machine_kind", "machine_id", "kind",
                     condition="resolved_at IS NULL"),
    )

    kind_label = ChoiceLabel("kind", ANDON_KINDS)

    priority_label = ChoiceLabel("priority", ANDON_PRIORITIES)

    status_label = ChoiceLabel("status", ANDON_STATUSES)

    @property
    def is_active(self):
        return self.resolved_at is None


class AndonEvent(HistoryEventMixin, db.Model):
    """A call's history: raised, acknowledged, escalated (level and roles), resolved."""

    __tablename__ = "andon_events"

    call_id = db.Column(db.ForeignKey("andon_calls.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    call = db.relationship(AndonCall, back_populates="events")
    level = db.Column(db.Integer)
