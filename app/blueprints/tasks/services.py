"""Maintenance tasks: made by hand, by alert rules, by plans or from logbook issues.

Services flush and never commit; views (and jobs) commit once. Every change is a TaskEvent
with who and when; assignees hear about new work, assignees and the creator about status.
"""

from datetime import timedelta

from sqlalchemy import exists, func, select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.logbook.access import WORKERS, can_see_issue
from app.blueprints.logbook.links import lists_issue_tasks, source_kind
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Machine
from app.blueprints.notifications.services import link, notify, people_of_machine, users_with_roles
from app.core import workflow
from app.core.badges import badge_counter, publish_badges
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import as_utc, utcnow
from app.realtime import publish_after_commit

from .models import (
    TASK_PRIORITIES,
    TASK_SOURCES,
    TASK_STATUSES,
    TASK_TRANSITIONS,
    Task,
    TaskEvent,
    task_assignees,
)

source_kind("task", "Task", Task, "tasks.show", "task_id")

# Who gets a task when nobody is named: the machine's managers and operators, and the
# maintenance people.
DEFAULT_ASSIGNEE_ROLES = roles.MANAGERS | {roles.MAINTENANCE}
# Who may be picked as an assignee: the defaults plus engineers.
ASSIGNABLE_ROLES = DEFAULT_ASSIGNEE_ROLES | {roles.ENGINEER}
# Who makes tasks by hand.
CREATORS = roles.MANAGERS | {roles.ENGINEER, roles.MAINTENANCE}
# Without a due date, a task is due this long after it is made, by priority.
DUE_AFTER = {"critical": timedelta(hours=4), "high": timedelta(days=1),
             "medium": timedelta(days=3), "low": timedelta(days=7)}
STATUS_LABELS = dict(TASK_STATUSES)
PRIORITY_LABELS = dict(TASK_PRIORITIES)
PRIORITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3}
TITLE_MAX = 200
DESCRIPTION_MAX = 10_000


# --- who may do what -------------------------------------------------------------------

def can_see_task(user, task):
    return machine_services.can_see_machine(user, task.machine)


def can_change_status(user, task):
    """Managers and the task's own assignees move it along."""
    return can_see_task(user, task) and (
        user.role in roles.MANAGERS or any(u.id == user.id for u in task.assignees))


def can_create(user):
    return user.role in CREATORS


def can_edit(user, task):
    return can_see_task(user, task) and user.role in CREATORS


def default_assignees(machine):
    return people_of_machine(machine, include_roles=DEFAULT_ASSIGNEE_ROLES)


def assignable_people(machine):
    """Sensible assignees for a task on `machine`: managers, maintenance, engineers and the
    machine's own operators, each once, by name."""
    people = {u.id: u for u in people_of_machine(machine, include_roles=ASSIGNABLE_ROLES)
              if u.active}
    return sorted(people.values(), key=lambda u: (u.role not in roles.MACHINE_BOUND,
                                                  u.display_name.lower()))


# --- making tasks ----------------------------------------------------------------------

def _clean_text(title, description):
    errors = {}
    title = " ".join((title or "").split())
    if not title:
        errors["title"] = "Give the task a title."
    elif len(title) > TITLE_MAX:
        errors["title"] = f"Keep the title under {TITLE_MAX} characters."
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX:
        errors["description"] = f"Keep the description under {DESCRIPTION_MAX:,} characters."
    return title, description, errors


def _check_priority(priority, errors):
    if priority not in PRIORITY_LABELS:
        errors["priority"] = "Choose a priority: " + ", ".join(PRIORITY_LABELS.values()) + "."


def _check_assignees(machine, people, errors):
    allowed = {u.id for u in assignable_people(machine)}
    strangers = [u.display_name for u in people if u.id not in allowed]
    if strangers:
        errors["assignees"] = (", ".join(strangers) + " cannot work on this machine; choose "
                               "from the list.")


def create_task(machine, title, description="", source="manual", priority="medium",
                due_at=None, assignees=None, actor=None, alert=None, plan=None, issue=None):
    """Make a task, record it in its history and tell its assignees; flushes, returns it.

    `assignees` None means the machine's default people (see DEFAULT_ASSIGNEE_ROLES).
    """
    title, description, errors = _clean_text(title, description)
    _check_priority(priority, errors)
    if source not in dict(TASK_SOURCES):
        errors["source"] = f"Unknown task source '{source}'."
    if assignees is not None and source == "manual":
        _check_assignees(machine, assignees, errors)
    if errors:
        raise ValidationFailed(errors)
    now = utcnow()
    people = default_assignees(machine) if assignees is None else list(assignees)
    task = Task(machine=machine, title=title, description=description,
                source=source, priority=priority, created_by=actor, alert=alert, plan=plan,
                issue=issue, due_at=due_at or now + DUE_AFTER[priority],
                assignees=list({u.id: u for u in people}.values()))
    db.session.add(task)
    db.session.flush()
    _log(task, actor, "created", f"Created ({task.source_label.lower()})",
         to_status=task.status, at=now)
    notify(task.assignees, "task_assigned", f"Task for {machine.code}: {task.title}",
           link("tasks.show", task_id=task.id), body=task.priority_label + " priority",
           exclude=actor)
    _changed(task, {u.id for u in task.assignees})
    return task


def _log(task, actor, kind, detail, from_status=None, to_status=None, at=None):
    event = TaskEvent(task=task, actor=actor, kind=kind, detail=detail, at=at or utcnow(),
                      from_status=from_status, to_status=to_status)
    db.session.add(event)
    return event


def _changed(task, badge_user_ids=()):
    """After commit: open task pages and boards redraw the card; badges recount."""
    publish_after_commit("task.changed", id=task.id, machine_id=task.machine_id)
    if badge_user_ids:
        publish_badges("tasks", user_ids=set(badge_user_ids))


# --- the workflow ----------------------------------------------------------------------

def next_statuses(task):
    """The statuses a task may move to next, in the workflow's order."""
    return workflow.next_statuses(TASK_STATUSES, TASK_TRANSITIONS, task.status)


def change_status(user, task, status, now=None):
    """Move the task one step; refuses jumps the workflow does not allow."""
    if not can_change_status(user, task):
        raise Forbidden("Only managers and the task's assignees change its status.")
    workflow.check_transition("task", TASK_STATUSES, TASK_TRANSITIONS, task.status, status)
    current = task.status
    now = now or utcnow()
    task.status = status
    if status == "in_progress":
        task.started_at = task.started_at or now
        task.finished_at = None
    elif status == "finished":
        task.finished_at = now
    else:
        task.started_at = None
        task.finished_at = None
    _log(task, user, "status", f"{STATUS_LABELS[current]} → {STATUS_LABELS[status]}",
         from_status=current, to_status=status, at=now)
    if status == "finished" and task.plan is not None:
        from .plans import reset_plan

        reset_plan(task.plan, now)
        _log(task, user, "plan", f"Plan “{task.plan.title}” counters reset", at=now)
    told = {u.id: u for u in task.assignees}
    if task.created_by is not None:
        told[task.created_by.id] = task.created_by
    notify(told.values(), "task_status",
           f"{task.machine.code}: {task.title} is {STATUS_LABELS[status].lower()}",
           link("tasks.show", task_id=task.id), body=f"by {user.display_name}", exclude=user)
    db.session.flush()
    _changed(task, {u.id for u in task.assignees})
    return task


def set_assignees(user, task, people):
    """Replace the assignees; each newcomer is told, each change logged."""
    if not can_edit(user, task):
        raise Forbidden("Only managers, engineers and maintenance change who works on a task.")
    before = {u.id: u for u in task.assignees}
    after = {u.id: u for u in people}
    added = [after[i] for i in sorted(after.keys() - before.keys())]
    removed = [before[i] for i in sorted(before.keys() - after.keys())]
    # Only newcomers are checked: someone who has since left the machine may stay on.
    errors = {}
    _check_assignees(task.machine, added, errors)
    if errors:
        raise ValidationFailed(errors)
    if not added and not removed:
        return False
    task.assignees = sorted(after.values(), key=lambda u: u.id)
    task.updated_at = utcnow()  # the row itself is untouched; reconnecting pages go by it
    for person in added:
        _log(task, user, "assigned", f"Assigned {person.display_name}")
    for person in removed:
        _log(task, user, "unassigned", f"Unassigned {person.display_name}")
    notify(added, "task_assigned", f"Task for {task.machine.code}: {task.title}",
           link("tasks.show", task_id=task.id), body=f"assigned by {user.display_name}",
           exclude=user)
    db.session.flush()
    _changed(task, before.keys() | after.keys())
    return True


def update_task(user, task, title, description, priority, due_at):
    """Edit the words, priority and due date; returns True when anything changed."""
    if not can_edit(user, task):
        raise Forbidden("Only managers, engineers and maintenance edit tasks.")
    title, description, errors = _clean_text(title, description)
    _check_priority(priority, errors)
    if due_at is None:
        errors["due_at"] = "Give the task a due date."
    if errors:
        raise ValidationFailed(errors)
    changes = []
    if title != task.title or description != task.description:
        changes.append("Edited the title or description")
        task.title, task.description = title, description
    if priority != task.priority:
        changes.append(f"Priority {task.priority_label} → {PRIORITY_LABELS[priority]}")
        task.priority = priority
    if task.due_at is None or as_utc(task.due_at) != as_utc(due_at):
        changes.append("Due date " + as_utc(due_at).strftime("%d %b %Y %H:%M UTC"))
        task.due_at = due_at
    for change in changes:
        _log(task, user, "due_date" if change.startswith("Due") else "edited", change)
    if changes:
        db.session.flush()
        _changed(task)
    return bool(changes)


# --- finding tasks ---------------------------------------------------------------------

def visible_tasks(user):
    """A select of the tasks `user` may see: those of machines they may see."""
    machine_ids = machine_services.visible_machines(user).with_only_columns(Machine.id)
    stmt = select(Task).options(selectinload(Task.machine), selectinload(Task.assignees))
    if user.role in roles.MACHINE_BOUND:
        stmt = stmt.where(Task.machine_id.in_(machine_ids))
    return stmt


def _assigned_to(user_id):
    return exists().where(task_assignees.c.task_id == Task.id,
                          task_assignees.c.user_id == user_id)


def _overdue_first(stmt, now):
    overdue = Task.due_at < now
    return stmt.order_by(overdue.desc(), Task.due_at.asc().nulls_last(), Task.id)


def my_open_tasks(user, now=None):
    now = now or utcnow()
    stmt = visible_tasks(user).where(Task.status != "finished", _assigned_to(user.id))
    return db.session.scalars(_overdue_first(stmt, now)).all()


def my_open_count(user):
    return db.session.scalar(select(func.count()).select_from(Task).where(
        Task.status != "finished", _assigned_to(user.id))) or 0


@badge_counter("tasks")
def _my_tasks_badge(user):
    return my_open_count(user)


def filter_tasks(user, filters, now=None):
    """The visible tasks matching `filters` (see views.parse_filters)."""
    now = now or utcnow()
    stmt = visible_tasks(user)
    if filters.get("machine"):
        stmt = stmt.where(Task.machine_id == filters["machine"])
    if filters.get("line"):
        stmt = stmt.where(Task.machine_id.in_(select(Machine.id).where(
            Machine.line_id == filters["line"])))
    assignee = filters.get("assignee")
    if assignee == "me":
        stmt = stmt.where(_assigned_to(user.id))
    elif assignee == "nobody":
        stmt = stmt.where(~exists().where(task_assignees.c.task_id == Task.id))
    elif assignee:
        stmt = stmt.where(_assigned_to(int(assignee)))
    for name in ("priority", "source"):
        if filters.get(name):
            stmt = stmt.where(getattr(Task, name) == filters[name])
    status = filters.get("status")
    if status == "open":
        stmt = stmt.where(Task.status != "finished")
    elif status:
        stmt = stmt.where(Task.status == status)
    if filters.get("overdue"):
        stmt = stmt.where(Task.status != "finished", Task.due_at < now)
    return stmt


# A board column shows at most this many cards; the list view pages through the rest.
BOARD_LIMIT = 100


def board_columns(user, filters, now=None, recent_days=7):
    """Not started / In progress / Finished in the last week, each overdue first."""
    now = now or utcnow()
    base = filter_tasks(user, {**filters, "status": ""}, now)
    columns = []
    for status, label in TASK_STATUSES:
        stmt = base.where(Task.status == status)
        if status == "finished":
            stmt = stmt.where(Task.finished_at >= now - timedelta(days=recent_days)) \
                .order_by(Task.finished_at.desc())
            label = "Finished this week"
        else:
            stmt = _overdue_first(stmt, now)
        columns.append((status, label, db.session.scalars(stmt.limit(BOARD_LIMIT)).all()))
    return columns


def list_order(stmt, now=None):
    now = now or utcnow()
    is_open = Task.status != "finished"
    return stmt.order_by(is_open.desc(), (Task.due_at < now).desc(),
                         Task.due_at.asc().nulls_last(), Task.id.desc())


def people_with_tasks():
    """Everyone who could be an assignee, for the filter."""
    return users_with_roles(ASSIGNABLE_ROLES | roles.MACHINE_BOUND)


@lists_issue_tasks
def tasks_of_issue(issue):
    return db.session.scalars(select(Task).where(Task.issue_id == issue.id)
                              .order_by(Task.id)).all()


def open_tasks_of_machine(machine):
    return db.session.scalars(select(Task).where(
        Task.machine_id == machine.id, Task.status != "finished")
        .options(selectinload(Task.assignees))
        .order_by((Task.due_at < utcnow()).desc(), Task.due_at.asc().nulls_last())).all()


def is_overdue(task, now=None):
    return task.is_open and task.due_at is not None and as_utc(task.due_at) < (now or utcnow())


# --- from a logbook issue --------------------------------------------------------------

# Logbook priorities map onto task priorities; anything unknown becomes medium.
ISSUE_PRIORITY = {"low": "low", "medium": "medium", "high": "high", "critical": "critical",
                  "urgent": "critical"}


def open_task_of_issue(issue):
    return db.session.scalar(select(Task).where(Task.issue_id == issue.id,
                                                Task.status != "finished").limit(1))


def task_from_issue(user, issue):
    """A maintenance task for a logbook issue: (task, made_now). An issue that already has
    an open task gets that one back, not a duplicate."""
    if user.role not in WORKERS or not can_see_issue(user, issue):
        raise Forbidden("Only managers, engineers, maintenance and quality make tasks from "
                        "issues.")
    if issue.status == "closed":
        raise ValidationFailed({"": f"Issue #{issue.id} is closed; reopen it before making "
                                    "a task from it."})
    existing = open_task_of_issue(issue)
    if existing is not None:
        return existing, False
    description = issue.description + f"\n\nFrom logbook issue #{issue.id}."
    task = create_task(issue.machine, issue.title, description, source="issue",
                       priority=ISSUE_PRIORITY.get(issue.priority, "medium"), actor=user,
                       issue=issue)
    return task, True
