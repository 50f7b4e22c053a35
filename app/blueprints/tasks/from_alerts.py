"""Tasks made from alerts: by a rule that asks for one when it raises an alert, or by a
manager from the alert page. Registered with alerts' hooks when this package is imported."""

from sqlalchemy import select

from app.blueprints.alerts import alert_services
from app.blueprints.alerts.access import can_close
from app.blueprints.alerts.hooks import lists_alert_tasks, on_alert_raised
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db

from .models import Task
from .services import create_task

# An alert's severity as a task priority.
TASK_PRIORITY = {"critical": "critical", "warning": "high", "info": "medium"}


@lists_alert_tasks
def tasks_of_alert(alert):
    return db.session.scalars(select(Task).where(Task.alert_id == alert.id)
                              .order_by(Task.id)).all()


def _has_open_task(alert):
    return db.session.scalar(select(Task.id).where(Task.alert_id == alert.id,
                                                   Task.status != "finished").limit(1))


@on_alert_raised
def make_rule_task(alert, rule, again):
    """The rule's task; a re-activated alert gets one only if its last one is finished."""
    if not rule.create_task or (again and _has_open_task(alert)):
        return None
    machine = alert.machine
    return create_task(machine, f"{rule.name} on {machine.code}"[:200],
                       description=f"Raised by the alert rule “{rule.name}”: {alert.message}",
                       source="rule", priority=TASK_PRIORITY.get(rule.severity, "medium"),
                       alert=alert)


def task_from_alert(actor, alert):
    """A maintenance task for this alert, made by a manager from the alert page."""
    if not can_close(actor, alert):
        raise Forbidden()
    open_task = next((t for t in tasks_of_alert(alert) if t.is_open), None)
    if open_task is not None:
        raise ValidationFailed(f"Task #{open_task.id} for this alert is still open.")
    task = create_task(alert.machine, f"{alert.rule.name} on {alert.machine.code}"[:200],
                       description=alert.message, source="alert",
                       priority=TASK_PRIORITY.get(alert.severity, "medium"), actor=actor,
                       alert=alert)
    alert_services.record_task(alert, actor, task)
    return task
