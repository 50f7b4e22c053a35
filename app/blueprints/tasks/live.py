"""A task made or changed redraws its card on open task lists and its own open page."""

from flask import render_template

from app.extensions import db
from app.forms import ConfirmForm
from app.realtime import live_renderer

from . import services
from .models import Task


@live_renderer("task.changed")
def task_fragments(message, user, page):
    task_id = message.get("id")
    if page not in ("tasks", f"task:{task_id}"):
        return None
    task = db.session.get(Task, task_id)
    if task is None or not services.can_see_task(user, task):
        return None
    if page == "tasks":
        return render_template("tasks/_card.html", task=task, form=ConfirmForm(), oob=True,
                               viewer=user)
    return render_template("tasks/_live_task.html", task=task, form=ConfirmForm(),
                           viewer=user,
                           may_change=services.can_change_status(user, task))
