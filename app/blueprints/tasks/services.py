"""Maintenance tasks: made by hand, by alert rules, by plans or from logbook issues."""

from datetime import timedelta

from app.blueprints.auth import roles
from app.blueprints.notifications.services import link, notify, people_of_machine
from app.errors import ValidationFailed
from app.extensions import db
from app.models_base import utcnow

from .models import TASK_PRIORITIES, TASK_SOURCES, Task, TaskEvent

# Who gets a task when nobody is named: the machine's managers and operators, and the
# maintenance people.
DEFAULT_ASSIGNEE_ROLES = roles.MANAGERS | {roles.MAINTENANCE}
# Without a due date, a task is due this long after it is made, by priority.
DUE_AFTER = {"critical": timedelta(hours=4), "high": timedelta(days=1),
             "medium": timedelta(days=3), "low": timedelta(days=7)}


def default_assignees(machine):
    return people_of_machine(machine, include_roles=DEFAULT_ASSIGNEE_ROLES)


def create_task(machine, title, description="", source="manual", priority="medium",
                due_at=None, assignees=None, actor=None, alert=None, plan=None, issue=None):
    """Make a task, record it in its history and tell its assignees; flushes, returns it.

    `assignees` None means the machine's default people (see DEFAULT_ASSIGNEE_ROLES).
    """
    errors = {}
    if not (title or "").strip():
        errors["title"] = "Give the task a title."
    if priority not in dict(TASK_PRIORITIES):
        errors["priority"] = "Choose a priority from the list."
    if source not in dict(TASK_SOURCES):
        errors["source"] = f"Unknown task source '{source}'."
    if errors:
        raise ValidationFailed(errors)
    people = default_assignees(machine) if assignees is None else list(assignees)
    task = Task(machine=machine, title=title.strip()[:200], description=description or "",
                source=source, priority=priority, created_by=actor, alert=alert, plan=plan,
                issue=issue, due_at=due_at or utcnow() + DUE_AFTER[priority],
                assignees=list({u.id: u for u in people}.values()))
    db.session.add(task)
    db.session.flush()
    db.session.add(TaskEvent(task=task, actor=actor, kind="created", to_status=task.status,
                             detail=f"Created ({task.source_label.lower()})"))
    notify(task.assignees, "task_assigned", f"Task for {machine.code}: {task.title}",
           link("tasks.show", task_id=task.id), body=task.priority_label + " priority",
           exclude=actor)
    return task
