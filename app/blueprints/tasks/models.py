"""Maintenance tasks, the plans that make them, and every status change with who and when."""

from app.blueprints.machines.models import MachineRecord
from app.core import models as core
from app.core.extensions import db
from app.core.models import PRIORITIES, ChoiceLabel, HistoryEventMixin, TimestampMixin, UTCDateTime, utcnow

TASK_SOURCES = (("manual", "By hand"), ("rule", "Alert rule"), ("alert", "Alert"),
                ("plan", "Maintenance plan"), ("issue", "Logbook issue"))
TASK_PRIORITIES = PRIORITIES
TASK_STATUSES = (("not_started", "Not started"), ("in_progress", "In progress"),
                 ("finished", "Finished"))
# Allowed status changes; anything else is refused with a message.
TASK_TRANSITIONS = {
    "not_started": {"in_progress"},
    "in_progress": {"finished", "not_started"},
    "finished": {"in_progress"},
}

task_assignees = core.link_table("task_assignees", ("task_id", "tasks.id"), ("user_id", "users.id"))


class MaintenancePlan(MachineRecord, TimestampMixin, db.Model):
    """Recurring maintenance: every N days, N running hours or N parts, whichever first.

    The meters count from telemetry since the last reset (the plan's task finishing).
    """

    __tablename__ = "maintenance_plans"

    title = db.Column(db.String(200), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    priority = db.Column(db.String(16), nullable=False, default="medium")
    every_days = db.Column(db.Integer)
    every_running_hours = db.Column(db.Float)
    every_parts = db.Column(db.Integer)
    days_to_finish = db.Column(db.Integer, nullable=False, default=3)
    active = db.Column(db.Boolean, nullable=False, default=True)
    counted_since = db.Column(UTCDateTime(), nullable=False, default=utcnow)
    running_seconds = db.Column(db.Float, nullable=False, default=0)
    parts = db.Column(db.Integer, nullable=False, default=0)
    # What the meters last saw, so the next reading adds only its difference.
    last_counter = db.Column(db.Float)
    last_running = db.Column(db.Boolean)
    last_reading_at = db.Column(UTCDateTime())
    created_by_id = db.Column(db.ForeignKey("users.id"))
    created_by = db.relationship("User")


class Task(MachineRecord, TimestampMixin, db.Model):
    __tablename__ = "tasks"

    title = db.Column(db.String(200), nullable=False)
    description = db.Column(db.Text, nullable=False, default="")
    source = db.Column(db.String(16), nullable=False, default="manual")
    alert_id = db.Column(db.ForeignKey("alerts.id", ondelete="SET NULL"), index=True)
    alert = db.relationship("Alert")
    plan_id = db.Column(db.ForeignKey("maintenance_plans.id", ondelete="SET NULL"), index=True)
    plan = db.relationship(MaintenancePlan)
    issue_id = db.Column(db.ForeignKey("issues.id", ondelete="SET NULL"), index=True)
    issue = db.relationship("Issue")
    priority = db.Column(db.String(16), nullable=False, default="medium")
    due_at = db.Column(UTCDateTime(), index=True)
    status = db.Column(db.String(16), nullable=False, default="not_started", index=True)
    started_at = db.Column(UTCDateTime())
    finished_at = db.Column(UTCDateTime())
    created_by_id = db.Column(db.ForeignKey("users.id"))
    created_by = db.relationship("User", foreign_keys=[created_by_id])
    assignees = db.relationship("User", secondary=task_assignees, order_by="User.id")
    events = core.history("TaskEvent", "task")

    status_label = ChoiceLabel("status", TASK_STATUSES)

    priority_label = ChoiceLabel("priority", TASK_PRIORITIES)

    source_label = ChoiceLabel("source", TASK_SOURCES)

    @property
    def is_open(self):
        return self.status != "finished"


class TaskEvent(HistoryEventMixin, db.Model):
    __tablename__ = "task_events"

    task_id = db.Column(db.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    task = db.relationship(Task, back_populates="events")
    from_status = db.Column(db.String(16))
    to_status = db.Column(db.String(16))
