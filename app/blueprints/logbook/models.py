"""The machine-issue logbook: issues, remedies, attachments and their history."""

from app.blueprints.machines.models import MachineRecord
from app.blueprints.telemetry.models import JSONValue
from app.core import models as core
from app.core.extensions import db
from app.core.models import PRIORITIES, ChoiceLabel, HistoryEventMixin, TimestampMixin, UTCDateTime, utcnow

CATEGORIES = (("mechanical", "Mechanical"), ("electrical", "Electrical"),
              ("hydraulic", "Hydraulic"), ("pneumatic", "Pneumatic"), ("alarm", "Alarm"),
              ("software", "Software"), ("tooling", "Tooling"), ("quality", "Quality"),
              ("other", "Other"))
STATUSES = (("open", "Open"), ("in_progress", "In progress"), ("on_hold", "On hold"),
            ("resolved", "Resolved"), ("closed", "Closed"))
# Allowed status changes; anything else is refused with a message.
TRANSITIONS = {
    "open": {"in_progress", "on_hold", "resolved", "closed"},
    "in_progress": {"on_hold", "resolved", "open"},
    "on_hold": {"in_progress", "open", "resolved"},
    "resolved": {"closed", "in_progress"},
    "closed": {"in_progress"},
}
# Work on OCR and AI happens in RQ jobs; these say how far it got.
JOB_STATES = ("pending", "done", "failed", "skipped")


class Issue(MachineRecord, TimestampMixin, db.Model):
    __tablename__ = "issues"

    category = db.Column(db.String(16), nullable=False, index=True)
    alarm_code = db.Column(db.String(32), index=True)
    title = db.Column(db.String(200), nullable=False)
    description = db.Column(db.Text, nullable=False)
    priority = db.Column(db.String(16), nullable=False, default="medium")
    status = db.Column(db.String(16), nullable=False, default="open", index=True)
    runnable = db.Column(db.Boolean, nullable=False, default=True)
    reported_by_id = db.Column(db.ForeignKey("users.id"), nullable=False, index=True)
    reported_by = db.relationship("User", foreign_keys=[reported_by_id])
    assigned_to_id = db.Column(db.ForeignKey("users.id"), index=True)
    assigned_to = db.relationship("User", foreign_keys=[assigned_to_id])
    resolved_at = db.Column(UTCDateTime())
    closed_at = db.Column(UTCDateTime())
    # Where it came from (alerts, tasks and andon calls arrive with the monitoring issue).
    source = db.Column(db.String(16), nullable=False, default="manual")
    source_ref = db.Column(db.String(64))
    # Filled by RQ jobs; the originals above are never overwritten.
    ai_title = db.Column(db.String(200))
    ai_summary = db.Column(db.Text)
    ai_status = db.Column(db.String(16))
    ai_error = db.Column(db.Text)
    ai_updated_at = db.Column(UTCDateTime())

    remedies = db.relationship("Remedy", back_populates="issue", cascade="all, delete-orphan",
                               order_by="Remedy.performed_at")
    attachments = db.relationship("Attachment", back_populates="issue",
                                  cascade="all, delete-orphan", order_by="Attachment.id")
    events = core.history("IssueEvent", "issue")

    status_label = ChoiceLabel("status", STATUSES)

    category_label = ChoiceLabel("category", CATEGORIES)

    priority_label = ChoiceLabel("priority", PRIORITIES)

    @property
    def is_open(self):
        return self.status not in ("resolved", "closed")


class Remedy(TimestampMixin, db.Model):
    """What was done about an issue; an issue may need several tries."""

    __tablename__ = "remedies"

    id = db.Column(db.Integer, primary_key=True)
    issue_id = db.Column(db.ForeignKey("issues.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    issue = db.relationship(Issue, back_populates="remedies")
    description = db.Column(db.Text, nullable=False)
    performed_by_id = db.Column(db.ForeignKey("users.id"), nullable=False)
    performed_by = db.relationship("User")
    performed_at = db.Column(UTCDateTime(), nullable=False, default=utcnow)
    minutes_spent = db.Column(db.Integer, nullable=False, default=0)
    # [{"name": "Spindle belt", "quantity": 1, "unit_cost": 42.5}]
    parts = db.Column(JSONValue, nullable=False, default=list)
    parts_cost = db.Column(db.Numeric(12, 2), nullable=False, default=0)
    ai_text = db.Column(db.Text)
    attachments = db.relationship("Attachment", back_populates="remedy")


class Attachment(db.Model):
    """A photo or video on an issue (or one of its remedies), stored under a random name."""

    __tablename__ = "attachments"

    id = db.Column(db.Integer, primary_key=True)
    issue_id = db.Column(db.ForeignKey("issues.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    issue = db.relationship(Issue, back_populates="attachments")
    remedy_id = db.Column(db.ForeignKey("remedies.id", ondelete="SET NULL"), index=True)
    remedy = db.relationship(Remedy, back_populates="attachments")
    kind = db.Column(db.String(8), nullable=False)            # image / video
    content_type = db.Column(db.String(64), nullable=False)
    original_name = db.Column(db.String(255), nullable=False)
    stored_name = db.Column(db.String(64), nullable=False, unique=True)
    thumbnail_name = db.Column(db.String(64))
    size = db.Column(db.Integer, nullable=False)
    uploaded_by_id = db.Column(db.ForeignKey("users.id"), nullable=False)
    uploaded_by = db.relationship("User")
    created_at = db.Column(UTCDateTime(), nullable=False, default=utcnow)
    ocr_status = db.Column(db.String(16))
    ocr_text = db.Column(db.Text)
    ocr_error = db.Column(db.Text)
    alarm_codes = db.Column(JSONValue, nullable=False, default=list)


class IssueEvent(HistoryEventMixin, db.Model):
    """The issue's history: who did what, when."""

    __tablename__ = "issue_events"

    issue_id = db.Column(db.ForeignKey("issues.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    issue = db.relationship(Issue, back_populates="events")
