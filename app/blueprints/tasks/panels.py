"""What task partials are drawn from, and the maintenance panel on the machine page.

A card, the status panel and the machine panel each get their context from one helper
here; the page views and the /ws renderers (live.py) both use it, so a page and its live
update cannot drift apart.
"""

from dataclasses import dataclass

from flask import render_template

from app.blueprints.machines.panels import machine_panel
from app.core.extensions import db

from . import plans, services
from .models import Task

STATUS_ACTIONS = {"in_progress": "Start", "finished": "Finish", "not_started": "Not started"}
REOPEN_LABEL = "Reopen"


def status_actions(task):
    """(status, button label) for each next step of the task, for its buttons."""
    return [(s, REOPEN_LABEL if task.status == "finished" else STATUS_ACTIONS[s])
            for s in services.next_statuses(task)]


@dataclass(frozen=True)
class TaskCard:
    """One task on a list or board (tasks/_card.html), as `user` sees it."""
    task: Task
    overdue: bool
    may_change: bool
    actions: list


def task_card(task, user):
    return TaskCard(task, services.is_overdue(task), services.can_change_status(user, task),
                    status_actions(task))


def task_cards(tasks, user):
    return [task_card(task, user) for task in tasks]


def status_panel_context(task, user):
    """The task page's status panel (tasks/_status_panel.html)."""
    return {"task": task, "may_change": services.can_change_status(user, task),
            "actions": status_actions(task)}


def machine_tasks_context(user, machine):
    open_tasks = services.open_tasks_of_machine(machine)
    machine_plans = db.session.scalars(plans.plans_for(machine, include_inactive=False)).all()
    return {"machine": machine,
            "open_tasks": [(task, services.is_overdue(task)) for task in open_tasks],
            "machine_plans": [(plan, plans.meters(plan)) for plan in machine_plans],
            "may_create": services.can_create(user)}


@machine_panel("reactions", 30)
def machine_tasks(machine, user, **_context):
    return render_template("tasks/_machine_tasks.html", **machine_tasks_context(user, machine))
