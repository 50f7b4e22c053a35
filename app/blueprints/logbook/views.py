"""Logbook pages: the list, reporting (desk and QR quick form), the issue page, labels.

Thin views: load, check access, call a service, commit once, render or redirect.
"""

from datetime import UTC

from flask import Response, abort, current_app, flash, redirect, request, stream_with_context, url_for
from flask_login import current_user
from sqlalchemy import select

from app.blueprints.auth import roles
from app.blueprints.auth.access import managers_only, roles_required
from app.blueprints.auth.models import User
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Machine
from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.forms import form_errors_to_fields, form_status, save, save_form
from app.core.htmx import is_htmx, redirect_for_htmx, render_page

from . import bp, labels, links, search, services
from .access import REPORTERS, WORKERS, can_work_on, load_issue
from .attachment_views import attachments_context
from .attachments import save_upload
from .forms import AssignForm, EditIssueForm, IssueForm, QuickReportForm, RemedyForm, RunnableForm, StatusForm
from .metrics_views import ai_context
from .models import CATEGORIES, PRIORITIES, STATUSES

MAX_PHOTOS = 10
STATUS_ACTIONS = {"open": "Back to open", "in_progress": "Start work", "on_hold": "Put on hold",
                  "resolved": "Mark resolved", "closed": "Close issue"}
REOPEN_LABEL = "Reopen"


def _issue_url(issue):
    return url_for("logbook.show", issue_id=issue.id)


def _photos():
    return [f for f in request.files.getlist("photo") if f and f.filename]


def _save_photos(issue, files, remedy=None):
    """Store the uploaded photos through the attachments service (it checks each file)."""
    if not files:
        return []
    if len(files) > MAX_PHOTOS:
        raise ValidationFailed({"photo": f"At most {MAX_PHOTOS} files at a time."})
    return [save_upload(issue, f, current_user, remedy=remedy) for f in files]


def _refile(form, errors):
    """After a refusal: files cannot be kept, so the photo field says so."""
    if "photo" in errors or (_photos() and errors):
        field = getattr(form, "photo", None)
        if field is not None and "photo" not in errors:
            field.errors = [*list(field.errors), "Nothing was saved: choose the photos again."]


# --- the list --------------------------------------------------------------------------

def _filtered():
    filters = search.parse_filters(request.args)
    return filters, search.search_issues(current_user, filters)


@bp.get("/")
@roles_required(*roles.EVERYONE)
def index():
    filters, stmt = _filtered()
    page = db.paginate(search.with_list_details(stmt),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_page("logbook/index.html", "logbook/_list.html", page=page, filters=filters,
                       statuses=STATUSES, categories=CATEGORIES,
                       status_groups=(("unresolved", "Not resolved"),
                                      ("done", "Resolved or closed")),
                       sort_labels=search.SORT_LABELS, can_report=current_user.role in
                       REPORTERS, **search.filter_choices(current_user))


@bp.get("/issues.csv")
@roles_required(*roles.EVERYONE)
def issues_csv():
    _filters, stmt = _filtered()
    response = Response(stream_with_context(search.csv_rows(stmt)), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="logbook-issues.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


# --- reporting -------------------------------------------------------------------------

def _visible_machine_choices():
    machines = db.session.scalars(machine_services.visible_machines(current_user)
                                  .order_by(Machine.code)).all()
    return [(m.id, f"{m.code} · {m.name}") for m in machines]


def _runnable(value):
    return value != "no"


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*REPORTERS)
def new():
    form = IssueForm()
    form.machine_id.choices = [(0, "— choose a machine —"), *_visible_machine_choices()]
    if request.method == "GET" and request.args.get("machine", type=int):
        form.machine_id.data = request.args.get("machine", type=int)
    _link_from_args(form)
    if form.validate_on_submit():
        machine = db.session.get(Machine, form.machine_id.data or 0)
        if machine is None or not machine_services.can_see_machine(current_user, machine):
            form.machine_id.errors = [*form.machine_id.errors,
                                      "Choose one of the machines in the list."]
        else:
            linked, note = links.check_link(current_user, machine, form.source.data,
                                            form.ref.data)
            issue = _report(form, machine, title=form.title.data,
                            priority=form.priority.data, alarm_code=form.alarm_code.data,
                            **_source_fields(linked, form))
            if issue is not None:
                flash(f"Issue #{issue.id} reported on {machine.code}.", "success")
                if note:
                    flash(note, "warning")
                return redirect(_issue_url(issue))
    shown = db.session.get(Machine, form.machine_id.data or 0)
    return render_page("logbook/new.html", "logbook/_form.html", status=form_status(form),
                       form=form, **_link_context(form, shown))


def _link_from_args(form):
    """A report opened from an alert, andon call or task carries ?source=…&ref=<id>."""
    if not form.is_submitted():
        form.source.data = request.args.get("source", "")
        form.ref.data = request.args.get("ref", "")


def _link_context(form, machine):
    """What the form says about its link; a link that cannot be kept is dropped here, so
    the issue is still reported, without it."""
    linked, note = links.check_link(current_user, machine, form.source.data, form.ref.data)
    if note:
        form.source.data = form.ref.data = ""
    label = f"{links.label_of(form.source.data)} #{linked.id}" if linked else None
    return {"link_note": note, "link_label": label}


def _source_fields(linked, form):
    if linked is None:
        return {}
    return {"source": form.source.data, "source_ref": str(linked.id)}


def _report(form, machine, **fields):
    """Report the issue with its photos and commit; None (errors on the form) if refused."""
    def report_with_photos():
        issue = services.report_issue(
            current_user, machine, form.category.data, form.description.data,
            runnable=_runnable(form.runnable.data), **fields)
        _save_photos(issue, _photos())
        return issue

    saved = save(report_with_photos, form)
    if not saved:
        _refile(form, saved.error.errors)
    return saved.value


def _machine_by_code(code):
    machine = db.session.scalar(select(Machine).where(
        Machine.code == machine_services.normalize_code(code)))
    if machine is None:
        abort(404)
    if not machine_services.can_see_machine(current_user, machine):
        abort(403)
    return machine


@bp.route("/report/<machine_code>", methods=["GET", "POST"])
@roles_required(*REPORTERS)
def report(machine_code):
    """The QR label's target: one screen, three taps and a photo."""
    machine = _machine_by_code(machine_code)
    form = QuickReportForm()
    _link_from_args(form)
    if form.validate_on_submit():
        linked, note = links.check_link(current_user, machine, form.source.data,
                                        form.ref.data)
        issue = _report(form, machine, **(_source_fields(linked, form) or {
            "source": "quick", "source_ref": f"qr:{machine.code}"}))
        if issue is not None:
            flash(f"Thank you: issue #{issue.id} is in the logbook"
                  + ("" if issue.runnable else " and the downtime is running") + ".",
                  "success")
            if note:
                flash(note, "warning")
            return redirect(_issue_url(issue))
    return render_page("logbook/report.html", "logbook/_quick_form.html",
                       status=form_status(form), form=form, machine=machine,
                       categories=CATEGORIES, **_link_context(form, machine))


# --- one issue -------------------------------------------------------------------------

def _assign_form(issue):
    form = AssignForm()
    form.assignee_id.choices = [(0, "— nobody —")] + [
        (u.id, f"{u.display_name} ({u.role_label})") for u in services.assignable_users(issue)]
    if not form.is_submitted():
        form.assignee_id.data = issue.assigned_to_id or 0
    return form


def _remedy_form():
    return RemedyForm()


def _show(issue, status=200, **forms):
    """The issue page; a failed POST passes its form (with errors) to be shown again."""
    may_work = can_work_on(current_user, issue)
    context = {
        "issue": issue,
        "may_work": may_work,
        "may_edit": services.can_edit(current_user, issue),
        "may_set_runnable": services.can_set_runnable(current_user, issue),
        "next_statuses": [(s, REOPEN_LABEL if issue.status in ("resolved", "closed")
                           and s == "in_progress" else STATUS_ACTIONS[s])
                          for s in services.allowed_statuses(issue)],
        "downtimes": services.downtimes_of(issue),
        "status_form": forms.get("status_form") or StatusForm(),
        "runnable_form": RunnableForm(),
        "assign_form": forms.get("assign_form") or (_assign_form(issue) if may_work
                                                     else None),
        "remedy_form": forms.get("remedy_form") or _remedy_form(),
        "status_error": forms.get("status_error"),
        "runnable_error": forms.get("runnable_error"),
        **_task_links(issue),
        **attachments_context(issue, current_user),
        **ai_context(issue, current_user),
    }
    return render_page("logbook/show.html", status=status, **context)


def _task_links(issue):
    """Where the issue came from, the maintenance tasks made from it, and whether this
    user may make one."""
    return {"came_from": links.came_from(issue, current_user),
            "issue_tasks": links.tasks_of(issue),
            "may_make_task": current_user.role in WORKERS and issue.status != "closed",
            "task_form": StatusForm()}


@bp.get("/issues/<int:issue_id>")
@roles_required(*roles.EVERYONE)
def show(issue_id):
    return _show(load_issue(issue_id))


@bp.route("/issues/<int:issue_id>/status", methods=["GET", "POST"])
@roles_required(*REPORTERS)
def change_status(issue_id):
    """One tap per status; closing asks first (hx-confirm, or this page without JS)."""
    issue = load_issue(issue_id)
    if not can_work_on(current_user, issue):
        abort(403)
    form = StatusForm()
    wanted = form.status.data or request.args.get("status", "")
    confirm_needed = wanted == "closed" and form.confirmed.data != "1"
    if request.method == "POST" and form.validate_on_submit() and not confirm_needed:
        saved = save(lambda: services.change_status(current_user, issue, wanted,
                                                    form.note.data))
        if not saved:
            return _show(load_issue(issue_id), 422, status_form=form,
                         status_error=saved.message)
        flash(f"Issue #{issue.id} is now {issue.status_label.lower()}.", "success")
        return redirect_for_htmx(_issue_url(issue)) if is_htmx() else redirect(
            _issue_url(issue))
    if request.method == "POST" and not form.validate():
        return _show(issue, 422, status_form=form,
                     status_error="The form expired; try again.")
    form.status.data = wanted or "closed"
    form.confirmed.data = "1"
    return render_page("logbook/confirm_status.html", form=form, issue=issue,
                       target=dict(STATUSES).get(form.status.data, form.status.data))


@bp.post("/issues/<int:issue_id>/runnable")
@roles_required(*REPORTERS)
def set_runnable(issue_id):
    issue = load_issue(issue_id)
    if not services.can_set_runnable(current_user, issue):
        abort(403)
    form = RunnableForm()
    if not form.validate_on_submit() or form.runnable.data not in ("yes", "no"):
        return _show(issue, 422, runnable_error="Choose whether the machine can run.")
    saved = save(lambda: services.set_runnable(current_user, issue,
                                               form.runnable.data == "yes"))
    if not saved:
        return _show(load_issue(issue_id), 422, runnable_error=saved.message)
    flash("Machine marked as " + ("running again; the downtime has ended." if issue.runnable
                                  else "stopped; the downtime is running."), "success")
    return redirect(_issue_url(issue))


@bp.post("/issues/<int:issue_id>/assign")
@roles_required(*REPORTERS)
def assign(issue_id):
    issue = load_issue(issue_id)
    if not can_work_on(current_user, issue):
        abort(403)
    form = _assign_form(issue)
    if request.form.get("to_me"):
        form.assignee_id.data = current_user.id
    if form.validate_on_submit():
        assignee = db.session.get(User, form.assignee_id.data) if form.assignee_id.data \
            else None
        if form.assignee_id.data and assignee is None:
            form.assignee_id.errors = [*form.assignee_id.errors, "Choose someone in the list."]
        else:
            saved = save(lambda: services.assign(current_user, issue, assignee))
            if not saved:
                form_errors_to_fields(form, {"assignee_id": saved.message})
            else:
                flash("Assigned to " + (assignee.display_name if assignee else "nobody")
                      + ".", "success")
                return redirect(_issue_url(issue))
    return _show(load_issue(issue_id), 422, assign_form=form)


@bp.post("/issues/<int:issue_id>/remedies")
@roles_required(*REPORTERS)
def add_remedy(issue_id):
    issue = load_issue(issue_id)
    if not can_work_on(current_user, issue):
        abort(403)
    form = _remedy_form()
    if form.validate_on_submit():
        performed_at = form.performed_at.data
        if performed_at is not None:
            performed_at = performed_at.replace(tzinfo=UTC)
        parts = [{"name": p.form.name.data, "quantity": p.form.quantity.data,
                  "unit_cost": p.form.unit_cost.data} for p in form.parts]
        def remedy_with_photos():
            remedy = services.add_remedy(current_user, issue, form.description.data,
                                         form.minutes_spent.data, parts=parts,
                                         performed_at=performed_at)
            _save_photos(issue, _photos(), remedy=remedy)

        saved = save(remedy_with_photos, form)
        if not saved:
            _refile(form, saved.error.errors)
        else:
            flash("Remedy added.", "success")
            return redirect(_issue_url(issue) + "#remedies")
    return _show(load_issue(issue_id), 422, remedy_form=form)


@bp.route("/issues/<int:issue_id>/edit", methods=["GET", "POST"])
@roles_required(*REPORTERS)
def edit(issue_id):
    issue = load_issue(issue_id)
    if not services.can_edit(current_user, issue):
        abort(403)
    form = EditIssueForm(obj=issue)
    saved = save_form(form, lambda: services.update_issue(
        current_user, issue, title=form.title.data or "", description=form.description.data,
        category=form.category.data, priority=form.priority.data,
        alarm_code=form.alarm_code.data or ""))
    if saved:
        changed = saved.value
        flash("Saved." if changed else "Nothing changed.", "success" if changed else "info")
        return redirect(_issue_url(issue))
    status = form_status(form)
    return render_page("logbook/edit.html", "logbook/_edit_form.html", status=status,
                       form=form, issue=issue, priorities=PRIORITIES)


# --- QR labels -------------------------------------------------------------------------

@bp.get("/labels", endpoint="labels")
@managers_only
def labels_page():
    line_id = request.args.get("line", type=int)
    department_id = request.args.get("department", type=int)
    machine_ids = [int(v) for v in request.args.getlist("machine") if v.isdigit()]
    machines = labels.label_machines(line_id, department_id, machine_ids)
    base_url = labels.base_url()
    return render_page("logbook/labels.html", labels=labels.labels_for(machines),
                       base_url=base_url, base_is_local=labels.is_loopback(base_url),
                       line_id=line_id,
                       department_id=department_id,
                       lines=machine_services.lines_ordered(),
                       departments=machine_services.departments_ordered())
