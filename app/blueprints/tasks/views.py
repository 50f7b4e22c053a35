"""Task pages: the board or list, my tasks, one task with its timeline, new, edit, status.

Thin views: load, check access, call a service, commit once, render or redirect.
"""

from datetime import UTC

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.blueprints.alerts.access import can_see_alert, load_alert
from app.blueprints.auth import roles
from app.blueprints.auth.access import get_or_403, managers_only, roles_required
from app.blueprints.auth.models import User
from app.blueprints.logbook.access import WORKERS, load_issue
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Machine
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_status, save, save_form
from app.core.htmx import is_htmx, render_page
from app.core.models import utcnow

from . import bp, from_alerts, plans, services
from .forms import EditTaskForm, StatusForm, TaskForm
from .models import TASK_PRIORITIES, TASK_SOURCES, TASK_STATUSES, Task
from .panels import status_panel_context, task_card, task_cards

FILTER_NAMES = ("machine", "line", "assignee", "priority", "source", "status", "overdue")


def load_task(task_id):
    """The task, or 404; 403 when its machine is not one the user may see."""
    return get_or_403(Task, task_id, services.can_see_task)


# --- lists -----------------------------------------------------------------------------

def parse_filters(args):
    """The URL's filters, cleaned: unknown values are dropped, not errors."""
    filters = {name: "" for name in FILTER_NAMES}
    for name in ("machine", "line"):
        filters[name] = args.get(name, type=int) or ""
    assignee = args.get("assignee", "")
    filters["assignee"] = assignee if assignee in ("me", "nobody") or assignee.isdigit() \
        else ""
    for name, choices in (("priority", TASK_PRIORITIES), ("source", TASK_SOURCES)):
        filters[name] = args.get(name, "") if args.get(name, "") in dict(choices) else ""
    status = args.get("status", "")
    filters["status"] = status if status == "open" or status in dict(TASK_STATUSES) else ""
    filters["overdue"] = "1" if args.get("overdue") in ("1", "on", "yes") else ""
    return filters


def _filter_choices():
    machines = db.session.scalars(machine_services.visible_machines(current_user)
                                  .order_by(Machine.code)).all()
    plant_wide = current_user.role not in roles.MACHINE_BOUND
    return {"machines": machines,
            "lines": machine_services.lines_ordered() if plant_wide else [],
            "people": services.people_with_tasks() if plant_wide else [],
            "priorities": TASK_PRIORITIES, "sources": TASK_SOURCES,
            "statuses": TASK_STATUSES}


@bp.get("/")
@roles_required(*roles.EVERYONE)
def index():
    if current_user.role in roles.MACHINE_BOUND and not request.args:
        # Operators land on their own work; "All tasks" there comes back with ?view=list.
        return redirect(url_for(".mine"))
    filters = parse_filters(request.args)
    view = "board" if request.args.get("view") == "board" else "list"
    now = utcnow()
    context = {"filters": filters, "view": view, "now": now,
               "active_filters": any(filters.values()), "form": StatusForm(),
               "can_create": services.can_create(current_user), **_filter_choices()}
    if view == "board":
        context["columns"] = [(status, label, task_cards(tasks, current_user))
                              for status, label, tasks in
                              services.board_columns(current_user, filters, now)]
        context["board_limit"] = services.BOARD_LIMIT
    else:
        stmt = services.list_order(services.filter_tasks(current_user, filters, now), now)
        context["page"] = db.paginate(stmt, per_page=current_app.config["PAGE_SIZE"],
                                      error_out=False)
        context["cards"] = task_cards(context["page"].items, current_user)
    return render_page("tasks/index.html", "tasks/_results.html", **context)


@bp.get("/mine")
@roles_required(*roles.EVERYONE)
def mine():
    now = utcnow()
    return render_page("tasks/mine.html", now=now, form=StatusForm(),
                       cards=task_cards(services.my_open_tasks(current_user, now),
                                        current_user))


# --- making and editing ----------------------------------------------------------------

def _machine_choices():
    machines = db.session.scalars(machine_services.visible_machines(current_user)
                                  .order_by(Machine.code)).all()
    return [(m.id, f"{m.code} · {m.name}") for m in machines]


def _people_choices(machine):
    people = services.assignable_people(machine) if machine else []
    return [(u.id, f"{u.display_name} ({u.role_label})") for u in people]


def _visible_machine(machine_id):
    machine = db.session.get(Machine, machine_id or 0)
    if machine is None or not machine_services.can_see_machine(current_user, machine):
        return None
    return machine


def _chosen_people(ids):
    if not ids:
        return []
    return db.session.scalars(db.select(User).where(User.id.in_(ids))).all()


def _utc(value):
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*services.CREATORS)
def new():
    form = TaskForm()
    form.machine_id.choices = [(0, "— choose a machine —"), *_machine_choices()]
    if not form.is_submitted():
        form.machine_id.data = (request.args.get("machine", type=int)
                                or request.args.get("machine_id", type=int) or 0)
    machine = _visible_machine(form.machine_id.data)
    form.assignees.choices = _people_choices(machine)
    if request.args.get("part") == "assignees":
        return render_page("tasks/_assignees.html", form=form, machine=machine)
    if form.validate_on_submit():
        task = _create(form, machine)
        if task is not None:
            flash(f"Task #{task.id} made for {machine.code}.", "success")
            return redirect(url_for(".show", task_id=task.id))
    return render_page("tasks/new.html", "tasks/_form.html", status=form_status(form),
                       form=form, machine=machine)


def _create(form, machine):
    if machine is None:
        form.machine_id.errors = [*form.machine_id.errors, "Choose one of the machines in the "
                                  "list."]
        return None
    return save(lambda: services.create_task(
        machine, form.title.data, form.description.data, priority=form.priority.data,
        due_at=_utc(form.due_at.data), actor=current_user,
        assignees=_chosen_people(form.assignees.data) or None), form).value


@bp.route("/<int:task_id>/edit", methods=["GET", "POST"])
@roles_required(*services.CREATORS)
def edit(task_id):
    task = load_task(task_id)
    if not services.can_edit(current_user, task):
        abort(403)
    form = EditTaskForm(obj=task)
    # Current assignees stay in the list even if they no longer work on the machine.
    form.assignees.choices = _people_choices(task.machine) + [
        (u.id, f"{u.display_name} ({u.role_label})") for u in task.assignees
        if u not in services.assignable_people(task.machine)]
    if not form.is_submitted():
        form.assignees.data = [u.id for u in task.assignees]
        form.due_at.data = task.due_at.replace(tzinfo=None) if task.due_at else None
    saved = save_form(form, lambda: _update(form, task))
    if saved:
        changed = saved.value
        flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
        return redirect(url_for(".show", task_id=task.id))
    return render_page("tasks/edit.html", "tasks/_edit_form.html", status=form_status(form),
                       form=form, task=load_task(task_id) if form.errors else task)


def _update(form, task):
    """Save the edit form; true when anything changed."""
    changed = services.update_task(current_user, task, form.title.data, form.description.data,
                                   form.priority.data, _utc(form.due_at.data))
    return services.set_assignees(current_user, task,
                                  _chosen_people(form.assignees.data)) or changed


# --- one task --------------------------------------------------------------------------

def task_context(task, status_error=None):
    return {**status_panel_context(task, current_user),
            "may_edit": services.can_edit(current_user, task), "form": StatusForm(),
            "status_error": status_error, "now": utcnow(),
            "overdue": services.is_overdue(task),
            "may_see_alert": task.alert is not None and can_see_alert(current_user, task.alert),
            "plan_meters": plans.meters(task.plan) if task.plan else []}


@bp.get("/<int:task_id>")
@roles_required(*roles.EVERYONE)
def show(task_id):
    return render_page("tasks/show.html", **task_context(load_task(task_id)))


@bp.post("/<int:task_id>/status")
@roles_required(*roles.EVERYONE)
def change_status(task_id):
    """One tap per status. From a card (htmx) the card comes back; else the task page."""
    task = load_task(task_id)
    if not services.can_change_status(current_user, task):
        abort(403)
    form = StatusForm()
    error = None
    if not form.validate_on_submit():
        error = "The form expired; try again."
    else:
        error = save(lambda: services.change_status(current_user, task,
                                                    form.status.data or "")).message
    if error:
        task = load_task(task_id)
    if is_htmx() and request.form.get("card"):
        return render_page("tasks/_card.html", status=422 if error else 200, error=error,
                           card=task_card(task, current_user), form=StatusForm())
    if error:
        return render_page("tasks/show.html", status=422, **task_context(task, error))
    flash(f"Task #{task.id} is now {task.status_label.lower()}.", "success")
    return redirect(request.form.get("next") if _local(request.form.get("next"))
                    else url_for(".show", task_id=task.id))


def _local(url):
    return bool(url) and url.startswith("/") and not url.startswith("//")


# --- from a logbook issue --------------------------------------------------------------

@bp.post("/from-issue/<int:issue_id>")
@roles_required(*WORKERS)
def from_issue(issue_id):
    issue = load_issue(issue_id)
    if not StatusForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("logbook.show", issue_id=issue.id))
    saved = save(lambda: services.task_from_issue(current_user, issue))
    if not saved:
        flash(saved.message, "error")
        return redirect(url_for("logbook.show", issue_id=issue.id))
    task, made = saved.value
    if not made:
        flash(f"Issue #{issue.id} already has an open task: #{task.id}. Here it is.", "info")
        return redirect(url_for(".show", task_id=task.id))
    flash(f"Task #{task.id} made from issue #{issue.id}.", "success")
    return redirect(url_for(".show", task_id=task.id))


# --- from an alert ------------------------------------------------------------------------

@bp.post("/from-alert/<int:alert_id>")
@managers_only
def from_alert(alert_id):
    alert = load_alert(alert_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    saved = save(lambda: from_alerts.task_from_alert(current_user, alert))
    if saved:
        flash("Maintenance task made; its assignees have been told.", "success")
    else:
        flash(saved.message, "error")
    return redirect(url_for("alerts.show", alert_id=alert.id))

