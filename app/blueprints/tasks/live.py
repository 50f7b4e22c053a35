"""A task made or changed redraws its card on open task lists and its own open page."""

from flask import render_template

from app.blueprints.machines.live import machine_ref
from app.core.extensions import db
from app.core.forms import ConfirmForm
from app.core.models import as_utc
from app.realtime import PER_VISIBILITY, live_renderer, live_resync
from app.realtime.json_events import JsonEvent, live_json, person_json

from . import services
from .models import Task
from .panels import status_panel_context, task_card

# A reconnecting list gets at most this many changed cards; more is a page reload's job.
RESYNC_LIMIT = 50


def _card(task, user):
    return render_template("tasks/_card.html", card=task_card(task, user), form=ConfirmForm(),
                           oob=True)


def _task_page(task, user):
    return render_template("tasks/_live_task.html", form=ConfirmForm(),
                           **status_panel_context(task, user))


def _board_refresh():
    return render_template("tasks/_board_refresh.html")


@live_renderer("task.changed")
def task_fragments(message, user, page):
    task_id = message.get("id")
    if page not in ("tasks", "tasks:board", f"task:{task_id}"):
        return None
    task = db.session.get(Task, task_id)
    if task is None or not services.can_see_task(user, task):
        return None
    if page == "tasks:board":
        # A card may have to change column or arrive new: the board redraws itself.
        return _board_refresh()
    return _card(task, user) if page == "tasks" else _task_page(task, user)


@live_resync("tasks")
def resync_cards(user, arg, since):
    """Cards changed while the list's socket was away (nothing on a first connect); a
    board that missed changes redraws itself."""
    if since is None:
        return ""
    if arg == "board":
        changed = db.session.scalar(services.visible_tasks(user).where(
            Task.updated_at > as_utc(since)).limit(1))
        return _board_refresh() if changed is not None else ""
    tasks = db.session.scalars(services.visible_tasks(user).where(Task.updated_at > as_utc(since))
                               .order_by(Task.updated_at.desc()).limit(RESYNC_LIMIT)).all()
    return "".join(_card(task, user) for task in tasks)


@live_resync("task")
def resync_task(user, arg, since):
    """The task's status and timeline, when it changed while the page's socket was away."""
    task = db.session.get(Task, int(arg)) if arg.isdigit() else None
    if task is None or not services.can_see_task(user, task):
        return ""
    if since is None or as_utc(task.updated_at) <= as_utc(since):
        return ""  # a first connect: the page was just drawn
    return _task_page(task, user)


# --- JSON for the API's socket ----------------------------------------------------------

def task_json(task):
    """A task as GET /api/v1/tasks/{id} shows it, without its history (the same fields)."""
    return {"id": task.id, "title": task.title, "description": task.description,
            "machine": machine_ref(task.machine),
            "status": task.status, "priority": task.priority, "source": task.source,
            "due_at": task.due_at, "started_at": task.started_at,
            "finished_at": task.finished_at,
            "assignees": [person_json(u) for u in task.assignees],
            "created_by": person_json(task.created_by),
            "issue_id": task.issue_id, "alert_id": task.alert_id,
            "next_statuses": list(services.next_statuses(task)),
            "created_at": task.created_at, "updated_at": task.updated_at}


# Who sees a task depends only on its machine (services.can_see_task).
@live_json("task.changed", audience=PER_VISIBILITY)
def task_update(message, user):
    task = db.session.get(Task, message.get("id"))
    if task is None or not services.can_see_task(user, task):
        return None
    return [JsonEvent("task_update", task_json(task), task.machine_id, task.machine.line_id)]
