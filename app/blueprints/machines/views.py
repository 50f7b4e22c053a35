from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.auth.access import get_or_403, managers_only, roles_required
from app.blueprints.auth.models import User
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_status, save, save_form
from app.core.htmx import is_htmx, render_page
from app.integrations import vendor

from . import bp, services, subscriptions
from .forms import MachineForm
from .models import MACHINE_STATUSES, Department, Line, Machine, MachineType
from .panels import render_panels

NONE_CHOICE = [(0, "— none —")]


def load_machine(machine_id):
    return get_or_403(Machine, machine_id, services.can_see_machine)


def _int_arg(name):
    return request.args.get(name, type=int) or None


def _by_id(model, ident):
    return db.session.get(model, ident) if ident else None


# --- machines -------------------------------------------------------------------------------

@bp.get("/")
@roles_required(*roles.EVERYONE)
def index():
    filters = {"query": request.args.get("q", "").strip(), "line_id": _int_arg("line"),
               "department_id": _int_arg("department"), "type_id": _int_arg("type"),
               "status": request.args.get("status", "")}
    page = db.paginate(services.search_machines(current_user, **filters),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_page("machines/index.html", "machines/_list.html", page=page,
                       filters=filters, statuses=MACHINE_STATUSES,
                       **services.filter_choices(current_user))


def _machine_form(machine=None):
    form = MachineForm(obj=machine)
    form.machine_type_id.choices = [(t.id, t.name) for t in services.types_ordered()]
    form.department_id.choices = NONE_CHOICE + [(d.id, d.name) for d in
                                                services.departments_ordered()]
    form.line_id.choices = NONE_CHOICE + [(ln.id, f"{ln.name} ({ln.code})") for ln in
                                          services.lines_ordered()]
    form.operators.choices = [(u.id, f"{u.display_name} ({u.username})") for u in
                              services.operators_ordered()]
    if request.method == "GET" and machine is not None:
        form.department_id.data = machine.department_id or 0
        form.line_id.data = machine.line_id or 0
        form.operators.data = [u.id for u in machine.operators]
    return form


def _save_machine_from(form, machine):
    services.save_machine(
        machine, code=form.code.data, name=form.name.data,
        machine_type=_by_id(MachineType, form.machine_type_id.data),
        department=_by_id(Department, form.department_id.data),
        line=_by_id(Line, form.line_id.data), vendor_id=form.vendor_id.data,
        data_url=form.data_url.data, polling_enabled=form.polling_enabled.data,
        status=form.status.data, location=form.location.data, notes=form.notes.data)
    operators = [db.session.get(User, uid) for uid in form.operators.data]
    services.set_machine_operators(machine, [u for u in operators if u])


def _machine_form_page(form, machine, status=200):
    return render_page("machines/form.html", "machines/_form.html", status=status,
                       form=form, machine=machine)


@bp.route("/new", methods=["GET", "POST"])
@managers_only
def new():
    form = _machine_form()
    if not form.machine_type_id.choices:
        flash("Create a machine type first: it says which values the machine reports.",
              "info")
        return redirect(url_for("machines.new_type"))
    machine = Machine()
    if save_form(form, lambda: _save_machine_from(form, machine)):
        flash(f"Machine {machine.code} added.", "success")
        return redirect(url_for("machines.show", machine_id=machine.id))
    return _machine_form_page(form, None, form_status(form))


def machine_page(machine, partial=None, status=200, **context):
    """The machine page, its slots filled by the panels other domains registered; for
    htmx, just `partial`. `context` (e.g. the history section a URL asked for) goes to the
    partial and to every panel."""
    if partial and is_htmx():
        return render_page(partial, status=status, machine=machine, **context)
    return render_page("machines/show.html", status=status, machine=machine,
                       people=services.machine_operators_of(machine),
                       confirm_form=ConfirmForm(),
                       panels=render_panels(machine, current_user, **context))


@bp.get("/<int:machine_id>")
@roles_required(*roles.EVERYONE)
def show(machine_id):
    return machine_page(load_machine(machine_id))


@bp.get("/<int:machine_id>/<any(history, readings, 'readings.csv'):section>")
@roles_required(*roles.EVERYONE)
def moved_history(machine_id, section):
    """Chart, readings and CSV moved to /telemetry; bookmarks and saved links still work."""
    query = request.query_string.decode()
    return redirect(f"/telemetry/machines/{machine_id}/{section}" + (f"?{query}" if query else ""),
                    308)


@bp.route("/<int:machine_id>/edit", methods=["GET", "POST"])
@managers_only
def edit(machine_id):
    machine = load_machine(machine_id)
    form = _machine_form(machine)
    if save_form(form, lambda: _save_machine_from(form, machine)):
        flash(f"Machine {machine.code} saved.", "success")
        return redirect(url_for("machines.show", machine_id=machine.id))
    return _machine_form_page(form, machine, form_status(form))


@bp.route("/<int:machine_id>/secret", methods=["GET", "POST"])
@managers_only
def rotate_secret(machine_id):
    machine = load_machine(machine_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        save(lambda: services.rotate_webhook_secret(machine))
        flash(f"New webhook secret for {machine.code}. Give it to the vendor: "
              "webhooks signed with the old one are refused from now on.", "warning")
        return redirect(url_for("machines.show", machine_id=machine.id))
    return render_page("confirm.html", form=form,
                       title=f"New webhook secret for {machine.code}?",
                       message="The machine's vendor must be given the new secret; readings "
                               "signed with the old one will be refused.",
                       action=url_for("machines.rotate_secret", machine_id=machine.id),
                       cancel=url_for("machines.show", machine_id=machine.id),
                       button="Make a new secret")


def _vendor_action(machine_id, subscribe):
    """Confirm, then register (or remove) our webhook with the machine's vendor."""
    machine = load_machine(machine_id)
    form = ConfirmForm()
    back = url_for("machines.show", machine_id=machine.id)
    if form.validate_on_submit():
        try:
            if subscribe:
                subscriptions.subscribe_machine(machine)
            else:
                subscriptions.unsubscribe_machine(machine)
        except vendor.VendorError as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(back)
        db.session.commit()
        flash(f"{machine.code} " + ("now pushes readings to Floorline." if subscribe
                                    else "no longer pushes readings."), "success")
        return redirect(back)
    verb = "Subscribe to" if subscribe else "Unsubscribe from"
    return render_page("confirm.html", form=form, title=f"{verb} {machine.code}'s readings?",
                       message=(f"Floorline asks the vendor at {vendor.api_url()} to push "
                                f"{machine.code}'s readings to {vendor.callback_url()}.")
                       if subscribe else "The vendor stops pushing readings; polling, "
                                         "if on, goes on.",
                       action=request.path, cancel=back,
                       button="Subscribe" if subscribe else "Unsubscribe")


@bp.route("/<int:machine_id>/subscribe", methods=["GET", "POST"])
@managers_only
def subscribe(machine_id):
    return _vendor_action(machine_id, subscribe=True)


@bp.route("/<int:machine_id>/unsubscribe", methods=["GET", "POST"])
@managers_only
def unsubscribe(machine_id):
    return _vendor_action(machine_id, subscribe=False)
