"""What concerns one person: new alerts, escalations, tasks assigned or moved."""

from app.core.extensions import db
from app.core.models import ChoiceLabel, UTCDateTime, utcnow

NOTIFICATION_KINDS = (("alert", "New alert"), ("escalation", "Escalation"),
                      ("andon", "Andon call"), ("task_assigned", "Task assigned"),
                      ("task_status", "Task status changed"))


class Notification(db.Model):
    __tablename__ = "notifications"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    kind = db.Column(db.String(16), nullable=False)
    title = db.Column(db.String(200), nullable=False)
    body = db.Column(db.Text, nullable=False, default="")
    url = db.Column(db.String(300), nullable=False)
    created_at = db.Column(UTCDateTime(), nullable=False, default=utcnow)
    read_at = db.Column(UTCDateTime())

    __table_args__ = (db.Index("ix_notifications_user_unread", "user_id", "read_at",
                               "created_at"),)

    kind_label = ChoiceLabel("kind", NOTIFICATION_KINDS)
