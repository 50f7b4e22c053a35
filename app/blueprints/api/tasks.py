"""Maintenance tasks over the API: the task list's filters, the one-tap workflow, edits.

Every rule is tasks.services': creators as on /tasks/new, editors as on the edit page,
status by managers and the task's assignees; an operator sees its machines' tasks only.
"""

import marshmallow as ma
from flask import g
from marshmallow import validate
from sqlalchemy import select

from app.blueprints.auth.models import User
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Machine
from app.blueprints.tasks import services
from app.blueprints.tasks.models import TASK_PRIORITIES, TASK_SOURCES, TASK_STATUSES, Task
from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import bp
from .rows import changed, created, get_visible
from .schemas import (
    HistoryEventSchema,
    Id,
    MachineRefSchema,
    PageQuery,
    PersonSchema,
    Text,
    page_schema,
    paginated,
    sort_field,
    sorted_by,
)
from .tokens import token_required

STATUSES = [code for code, _ in TASK_STATUSES]
PRIORITIES = [code for code, _ in TASK_PRIORITIES]
SOURCES = [code for code, _ in TASK_SOURCES]
SORTS = {"id": Task.id, "due_at": Task.due_at, "priority": Task.priority,
         "status": Task.status, "created_at": Task.created_at, "updated_at": Task.updated_at}


class TaskEventSchema(HistoryEventSchema):
    from_status = ma.fields.String(required=True, allow_none=True)
    to_status = ma.fields.String(required=True, allow_none=True)


class TaskSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    machine = ma.fields.Nested(MachineRefSchema, required=True)
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    priority = ma.fields.String(required=True, metadata={"enum": PRIORITIES})
    source = ma.fields.String(required=True, metadata={"enum": SOURCES})
    due_at = ma.fields.DateTime(required=True, allow_none=True)
    started_at = ma.fields.DateTime(required=True, allow_none=True)
    finished_at = ma.fields.DateTime(required=True, allow_none=True)
    assignees = ma.fields.List(ma.fields.Nested(PersonSchema), required=True)
    created_by = ma.fields.Nested(PersonSchema, required=True, allow_none=True)
    issue_id = ma.fields.Integer(required=True, allow_none=True)
    alert_id = ma.fields.Integer(required=True, allow_none=True)
    next_statuses = ma.fields.Method("_next", required=True, metadata={
        "type": "array", "items": {"type": "string"},
        "description": "Where the workflow may move the task next."})
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)

    def _next(self, task):
        return list(services.next_statuses(task))


class TaskDetailSchema(TaskSchema):
    events = ma.fields.List(ma.fields.Nested(TaskEventSchema), required=True,
                            metadata={"description": "The task's history, oldest first."})


class TaskQuery(PageQuery):
    machine = Id(metadata={"description": "Machine id."})
    line = Id(metadata={"description": "Line id."})
    assignee = Text(validate=validate.Regexp(r"^(me|nobody|[1-9][0-9]{0,9})$"), metadata={
        "description": "`me`, `nobody` or a user id."})
    priority = ma.fields.String(validate=validate.OneOf(PRIORITIES))
    source = ma.fields.String(validate=validate.OneOf(SOURCES))
    status = ma.fields.String(validate=validate.OneOf(["open", *STATUSES]), metadata={
        "description": "A status, or `open` (not finished)."})
    overdue = ma.fields.Boolean(metadata={"description": "Open and past its due date."})
    sort = sort_field(SORTS, "due_at")


class TaskInput(ma.Schema):
    machine_id = Id(required=True)
    title = Text(required=True, validate=validate.Length(max=services.TITLE_MAX))
    description = Text(validate=validate.Length(max=services.DESCRIPTION_MAX))
    priority = ma.fields.String(validate=validate.OneOf(PRIORITIES))
    due_at = ma.fields.AwareDateTime(allow_none=True, metadata={
        "description": "Default: by priority (4 h critical … 7 days low)."})
    assignee_ids = ma.fields.List(Id(), metadata={
        "description": "Default: the machine's managers, operators and maintenance."})


class TaskChanges(ma.Schema):
    """The fields to change (PATCH); the others keep their values."""

    title = Text(validate=validate.Length(max=services.TITLE_MAX))
    description = Text(validate=validate.Length(max=services.DESCRIPTION_MAX))
    priority = ma.fields.String(validate=validate.OneOf(PRIORITIES))
    due_at = ma.fields.AwareDateTime()
    assignee_ids = ma.fields.List(Id())


class StatusInput(ma.Schema):
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUSES))


def load_task(task_id):
    """The task, 404 when there is none, 403 when its machine is not the user's."""
    return get_visible(Task, task_id, "task", services.can_see_task,
                       "This task's machine is not one of yours.")


def _people(ids):
    people = db.session.scalars(select(User).where(User.id.in_(ids))).all() if ids else []
    missing = sorted(set(ids) - {u.id for u in people})
    if missing:
        raise ValidationFailed({"assignee_ids": "No user with id "
                                + ", ".join(map(str, missing)) + "."})
    return people


def _machine(machine_id):
    machine = db.session.get(Machine, machine_id)
    if machine is None or not machine_services.can_see_machine(g.api_user, machine):
        raise ValidationFailed({"machine_id": "Choose one of your machines."})
    return machine


@bp.get("/tasks", tags=["tasks"])
@token_required()
@bp.arguments(TaskQuery, location="query")
@bp.response(200, page_schema(TaskSchema))
def list_tasks(args):
    """Tasks of the machines the user may see, filtered as the task list, a page at a time."""
    filters = {**args, "overdue": args.get("overdue", False)}
    stmt = services.filter_tasks(g.api_user, filters)
    return paginated(sorted_by(stmt, f"{args['sort']},-id", SORTS), args)


@bp.post("/tasks", tags=["tasks"])
@token_required(*services.CREATORS)
@bp.etag
@bp.arguments(TaskInput)
@bp.response(201, TaskDetailSchema)
def create_task(values):
    """Make a task by hand (managers, engineers, maintenance)."""
    return make_task(_machine(values["machine_id"]), values)


def make_task(machine, values):
    """Create a task on `machine` from a TaskInput's values; the 201 answer (also
    POST /equipment/{code}/maintenance)."""
    ids = values.get("assignee_ids")
    task = services.create_task(
        machine, values["title"], values.get("description", ""),
        priority=values.get("priority", "medium"), due_at=values.get("due_at"),
        actor=g.api_user, assignees=_people(ids) if ids else None)
    return created(task, "api.get_task", task_id=task.id)


@bp.get("/tasks/<int:task_id>", tags=["tasks"])
@token_required()
@bp.etag
@bp.response(200, TaskDetailSchema)
def get_task(task_id):
    """One task with its history; its ETag goes into If-Match when changing it."""
    return load_task(task_id)


@bp.patch("/tasks/<int:task_id>", tags=["tasks"])
@token_required(*services.CREATORS)
@bp.etag
@bp.arguments(TaskChanges)
@bp.response(200, TaskDetailSchema)
def update_task(changes, task_id):
    """Change the words, priority, due date or assignees (as the edit page; If-Match)."""
    return changed(load_task(task_id), TaskDetailSchema, lambda task: _update_task(task, changes))


def _update_task(task, changes):
    services.update_task(g.api_user, task, changes.get("title", task.title),
                         changes.get("description", task.description),
                         changes.get("priority", task.priority),
                         changes.get("due_at", task.due_at))
    if "assignee_ids" in changes:
        services.set_assignees(g.api_user, task, _people(changes["assignee_ids"]))


@bp.post("/tasks/<int:task_id>/status", tags=["tasks"])
@token_required()
@bp.etag
@bp.arguments(StatusInput)
@bp.response(200, TaskDetailSchema)
def change_task_status(values, task_id):
    """Move the task one step (managers and its assignees); a jump is 422."""
    task = load_task(task_id)
    services.change_status(g.api_user, task, values["status"])
    db.session.commit()
    return task
