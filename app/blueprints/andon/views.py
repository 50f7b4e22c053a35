"""Andon pages: the board, the machine and line tablet screens, a call's page, answering
a call, and the escalation ladder. Thin views: load, check access, call a service,
commit once, redirect (POST-redirect-GET) or render.
"""

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.auth.access import get_or_403, managers_only, roles_required
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Line, Machine
from app.core import uploads
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_errors_to_fields, form_status, save, save_form
from app.core.htmx import render_page

from . import bp, escalation, panels, services
from .access import RAISERS, can_answer, can_raise, load_call
from .forms import LevelForm, RaiseForm, ResolveForm
from .models import ANDON_KINDS, ANDON_PRIORITIES, ESCALATION_STAGES, EscalationLevel


def _back(default):
    """Where a button asked to return to: a path on this site only."""
    target = request.form.get("next") or request.args.get("next") or ""
    # Browsers read "/\\host" like "//host": only plain site paths are followed.
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _call_url(call):
    return url_for("andon.call", call_id=call.id)


# --- the board ----------------------------------------------------------------------------

def _raise_places(user):
    """Lines (with the machines on them this user may see) and machines on no line."""
    machines = db.session.scalars(machine_services.visible_machines(user)
                                  .order_by(Machine.code)).all()
    lines = {}
    loose = []
    for machine in machines:
        if machine.line is None:
            loose.append(machine)
        else:
            lines.setdefault(machine.line, []).append(machine)
    return sorted(lines.items(), key=lambda item: item[0].name), loose


@bp.get("/")
@roles_required(*roles.EVERYONE)
def index():
    lines, loose = _raise_places(current_user)
    return render_page("andon/index.html", "andon/_board.html",
                       **panels.board_context(current_user),
                       lines=lines, loose=loose, may_raise=current_user.role in RAISERS)


# --- raising: the machine and line screens -----------------------------------------------------

def _machine_screen(machine, form, status=200, duplicate=None):
    calls = services.active_calls(current_user, [machine.id])
    screen = panels.machine_calls_context(current_user, machine.id, calls)
    return render_page("andon/machine.html", status=status, machine=machine, form=form,
                       calls=calls, answerable=screen["answerable"],
                       active_kinds={c.kind: c.id for c in calls},
                       kinds=ANDON_KINDS, defaults=services.DEFAULT_PRIORITY,
                       duplicate=duplicate)


def _raisable_machine(machine_id):
    return get_or_403(Machine, machine_id, can_raise)


@bp.get("/machine/<int:machine_id>")
@roles_required(*RAISERS)
def machine(machine_id):
    return _machine_screen(_raisable_machine(machine_id), RaiseForm(formdata=None))


@bp.post("/machine/<int:machine_id>")
@roles_required(*RAISERS)
def raise_call(machine_id):
    machine = _raisable_machine(machine_id)
    form = RaiseForm()
    if not form.validate_on_submit():
        return _machine_screen(machine, form, 422)
    photo = request.files.get("photo")
    saved = save(lambda: services.raise_call(
        current_user, machine, form.kind.data, priority=form.priority.data or None,
        note=form.note.data, photo=photo if photo and photo.filename else None))
    if not saved:
        return _refused_call(machine_id, form, saved.error)
    call = saved.value
    flash(f"Help is called: {call.kind_label.lower()} on {machine.code} (call #{call.id}). "
          "The people on duty have been told.", "success")
    return redirect(_back(url_for("andon.machine", machine_id=machine.id)), 303)


def _refused_call(machine_id, form, error):
    """The machine screen again (422): the call it already has, or the form's errors."""
    machine = db.session.get(Machine, machine_id)
    if isinstance(error, services.DuplicateCall):
        return _machine_screen(machine, form, 422, duplicate=error.existing)
    form_errors_to_fields(form, error.errors)
    if "photo" in error.errors:
        form.photo.errors = [*form.photo.errors, "Nothing was sent: choose the photo "
                                                 "again or send without one."]
    return _machine_screen(machine, form, 422)


@bp.get("/line/<int:line_id>")
@roles_required(*roles.EVERYONE)
def line(line_id):
    line = db.get_or_404(Line, line_id)
    machines = db.session.scalars(machine_services.visible_machines(current_user)
                                  .where(Machine.line_id == line.id)
                                  .order_by(Machine.code)).all()
    if current_user.is_machine_bound and not machines:
        abort(403)
    calls = services.active_calls(current_user, [m.id for m in machines])
    line_machines = [panels.line_machine_context(
        current_user, m, [c for c in calls if c.machine_id == m.id]) for m in machines]
    return render_page("andon/line.html", line=line, machines=machines,
                       line_machines=line_machines, kinds=ANDON_KINDS,
                       may_raise=current_user.role in RAISERS, form=RaiseForm(formdata=None))


# --- one call ------------------------------------------------------------------------------

@bp.get("/calls/<int:call_id>")
@roles_required(*roles.EVERYONE)
def call(call_id):
    return render_page("andon/call.html",
                       **panels.call_detail_context(current_user, load_call(call_id)))


@bp.get("/calls/<int:call_id>/photo")
@roles_required(*roles.EVERYONE)
def photo(call_id):
    call = load_call(call_id)
    if not call.photo_name:
        abort(404)
    return uploads.send_stored(call.photo_name, call.photo_type,
                               f"andon-{call.id}.{call.photo_name.rsplit('.', 1)[-1]}",
                               services.PHOTO_DIR)


def _answerable_call(call_id):
    call = load_call(call_id)
    if not can_answer(current_user, call):
        abort(403)
    return call


@bp.post("/calls/<int:call_id>/acknowledge")
@roles_required(*roles.EVERYONE)
def acknowledge(call_id):
    call = _answerable_call(call_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("The form had expired; press Acknowledge again.", "warning")
        return redirect(_back(_call_url(call)), 303)
    saved = save(lambda: services.acknowledge(current_user, call))
    if not saved:
        flash(saved.message, "warning")
        return redirect(_back(_call_url(call)), 303)
    flash(f"Call #{call.id} acknowledged: {call.machine.code} knows help is coming.", "success")
    return redirect(_back(_call_url(call)), 303)


@bp.route("/calls/<int:call_id>/resolve", methods=["GET", "POST"])
@roles_required(*roles.EVERYONE)
def resolve(call_id):
    call = _answerable_call(call_id)
    if call.resolved_at is not None:
        flash(f"Call #{call.id} is resolved already.", "info")
        return redirect(_call_url(call), 303)
    form = ResolveForm()
    if form.validate_on_submit():
        saved = save(lambda: services.resolve(current_user, call, form.note.data))
        if not saved:
            flash(saved.message, "warning")
            return redirect(_call_url(call), 303)
        flash(f"Call #{call.id} resolved.", "success")
        return redirect(_back(_call_url(call)), 303)
    return render_page("andon/resolve.html", status=form_status(form), call=call,
                       form=form, next=_back(""))


# --- the escalation ladder ----------------------------------------------------------------

@bp.get("/escalation")
@managers_only
def ladder():
    return render_page("andon/escalation.html", ladder=escalation.ladder(),
                       ladder_empty=escalation.ladder_is_empty(), priorities=ANDON_PRIORITIES,
                       stages=ESCALATION_STAGES, role_labels=roles.ROLE_LABELS,
                       form=ConfirmForm())


@bp.post("/escalation/recommended")
@managers_only
def install_ladder():
    form = ConfirmForm()
    if form.validate_on_submit():
        added = save(escalation.install_default_ladder).value
        flash(f"Recommended ladder installed ({added} levels added)." if added else
              "The recommended levels are all there already.", "success")
    return redirect(url_for("andon.ladder"), 303)


def _level_page(form, level=None):
    return render_page("andon/level_form.html", status=form_status(form), form=form,
                       level=level)


def _save_level(form, level):
    if not save_form(form, lambda: escalation.save_level(
            level, form.priority.data, form.stage.data, form.level.data,
            form.after_minutes.data, form.roles.data)):
        return False
    flash(f"Level {level.level} ({level.priority}, {level.stage}) saved.", "success")
    return True


@bp.route("/escalation/new", methods=["GET", "POST"])
@managers_only
def new_level():
    form = LevelForm()
    if request.method == "GET":
        form.priority.data = request.args.get("priority", "medium")
        form.stage.data = request.args.get("stage", "acknowledge")
        form.level.data = request.args.get("level", 1, type=int)
    if _save_level(form, EscalationLevel()):
        return redirect(url_for("andon.ladder"), 303)
    return _level_page(form)


@bp.route("/escalation/<int:level_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_level(level_id):
    level = db.get_or_404(EscalationLevel, level_id)
    form = LevelForm(obj=level if request.method == "GET" else None)
    if _save_level(form, level):
        return redirect(url_for("andon.ladder"), 303)
    return _level_page(form, level)


@bp.route("/escalation/<int:level_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_level(level_id):
    level = db.get_or_404(EscalationLevel, level_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        save(lambda: escalation.delete_level(level))
        flash(f"Level {level.level} of the {level.priority} ladder deleted.", "success")
        return redirect(url_for("andon.ladder"), 303)
    stage = dict(ESCALATION_STAGES)[level.stage].lower()
    return render_page("confirm.html", form=form, title="Delete this escalation level?",
                       message=f"Level {level.level} for {level.priority} calls {stage} after "
                               f"{level.after_minutes} minutes will no longer notify anyone.",
                       action=url_for("andon.delete_level", level_id=level.id),
                       cancel=url_for("andon.ladder"), button="Delete level",
                       danger=True)

