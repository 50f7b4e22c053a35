"""Alert rules and the alerts they raise, with every change kept in the alert's history."""


from app.blueprints.telemetry.models import JSONValue
from app.core import models as core
from app.core.extensions import db
from app.core.models import ChoiceLabel, HistoryEventMixin, TimestampMixin, UTCDateTime, utcnow

# threshold: a metric compared with a value; battery: the battery metric below a level;
# sensor_fault: a boolean fault flag is true; offline: no reading for N poll intervals.
RULE_KINDS = (("threshold", "Threshold"), ("battery", "Low battery"),
              ("sensor_fault", "Sensor fault"), ("offline", "Offline"))
CONDITIONS = ((">", "above (>)"), (">=", "at or above (≥)"), ("<", "below (<)"),
              ("<=", "at or below (≤)"), ("=", "equal to (=)"), ("!=", "not equal to (≠)"),
              ("outside", "outside its normal range"))
SEVERITIES = (("info", "Info"), ("warning", "Warning"), ("critical", "Critical"))
ALERT_STATES = (("active", "Active"), ("cleared", "Cleared"))


class AlertRule(TimestampMixin, db.Model):
    """What to watch for. Scope: one machine, or every machine of a type (or, for device
    conditions and offline, every machine when neither is set)."""

    __tablename__ = "alert_rules"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(120), nullable=False)
    kind = db.Column(db.String(16), nullable=False, default="threshold")
    machine_type_id = db.Column(db.ForeignKey("machine_types.id", ondelete="CASCADE"),
                                index=True)
    machine_type = db.relationship("MachineType")
    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    machine = db.relationship("Machine")
    metric_key = db.Column(db.String(64))
    condition = db.Column(db.String(8))
    # A number, true/false or a text, whichever the metric's kind is.
    threshold = db.Column(JSONValue)
    sustained_seconds = db.Column(db.Integer, nullable=False, default=0)
    offline_intervals = db.Column(db.Integer)
    severity = db.Column(db.String(16), nullable=False, default="warning")
    message_template = db.Column(db.String(300), nullable=False, default="")
    create_task = db.Column(db.Boolean, nullable=False, default=False)
    enabled = db.Column(db.Boolean, nullable=False, default=True)
    created_by_id = db.Column(db.ForeignKey("users.id"))
    created_by = db.relationship("User")

    kind_label = ChoiceLabel("kind", RULE_KINDS)

    severity_label = ChoiceLabel("severity", SEVERITIES)


class AlertCondition(db.Model):
    """A rule's condition that holds on a machine but has not lasted long enough yet."""

    __tablename__ = "alert_conditions"

    rule_id = db.Column(db.ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True)
    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    since = db.Column(UTCDateTime(), nullable=False)
    value = db.Column(JSONValue)


class Alert(TimestampMixin, db.Model):
    """One per (rule, machine) while open; closed_at set by a manager ends it."""

    __tablename__ = "alerts"

    id = db.Column(db.Integer, primary_key=True)
    rule_id = db.Column(db.ForeignKey("alert_rules.id", ondelete="RESTRICT"), nullable=False,
                        index=True)
    rule = db.relationship(AlertRule)
    machine_id = db.Column(db.ForeignKey("machines.id", ondelete="CASCADE"), nullable=False,
                           index=True)
    machine = db.relationship("Machine")
    severity = db.Column(db.String(16), nullable=False)
    message = db.Column(db.String(400), nullable=False)
    value = db.Column(JSONValue)
    state = db.Column(db.String(16), nullable=False, default="active", index=True)
    raised_at = db.Column(UTCDateTime(), nullable=False, default=utcnow, index=True)
    cleared_at = db.Column(UTCDateTime())
    acknowledged_at = db.Column(UTCDateTime())
    acknowledged_by_id = db.Column(db.ForeignKey("users.id"))
    acknowledged_by = db.relationship("User", foreign_keys=[acknowledged_by_id])
    closed_at = db.Column(UTCDateTime(), index=True)
    closed_by_id = db.Column(db.ForeignKey("users.id"))
    closed_by = db.relationship("User", foreign_keys=[closed_by_id])
    close_note = db.Column(db.Text, nullable=False, default="")
    events = core.history("AlertEvent", "alert")

    __table_args__ = (
        core.unique_while("uq_alerts_open_rule_machine", "rule_id", "machine_id",
                     condition="closed_at IS NULL"),
    )

    @property
    def is_open(self):
        return self.closed_at is None

    severity_label = ChoiceLabel("severity", SEVERITIES)

    state_label = ChoiceLabel("state", ALERT_STATES)


class AlertEvent(HistoryEventMixin, db.Model):
    """An alert's history: raised, cleared, acknowledged, commented, closed — who and when."""

    __tablename__ = "alert_events"

    alert_id = db.Column(db.ForeignKey("alerts.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    alert = db.relationship(Alert, back_populates="events")
