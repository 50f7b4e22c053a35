"""Pages for the registry's reference data: machine types and metrics, departments, lines."""

from flask import flash, redirect, request, url_for

from app.blueprints.auth import roles
from app.blueprints.auth.access import managers_only, roles_required
from app.blueprints.auth.models import User
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_status, save, save_form
from app.core.htmx import render_page

from . import bp, services
from .forms import DepartmentForm, LineForm, MachineTypeForm, MetricForm
from .models import Department, Line, MachineType, Metric
from .views import NONE_CHOICE

# --- machine types --------------------------------------------------------------------------

@bp.get("/types")
@roles_required(*roles.PLANT_WIDE)
def types():
    return render_page("machines/types.html", types=services.types_ordered())


@bp.route("/types/new", methods=["GET", "POST"])
@managers_only
def new_type():
    form = MachineTypeForm()
    machine_type = MachineType()
    if save_form(form, lambda: services.save_machine_type(
            machine_type, form.name.data, form.description.data)):
        flash(f"Machine type {machine_type.name} created. Now add the metrics it reports.",
              "success")
        return redirect(url_for("machines.show_type", type_id=machine_type.id))
    return render_page("machines/type_form.html", status=form_status(form), form=form,
                       machine_type=None)


@bp.get("/types/<int:type_id>")
@roles_required(*roles.PLANT_WIDE)
def show_type(type_id):
    machine_type = db.get_or_404(MachineType, type_id)
    return render_page("machines/type_show.html", machine_type=machine_type)


@bp.route("/types/<int:type_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_type(type_id):
    machine_type = db.get_or_404(MachineType, type_id)
    form = MachineTypeForm(obj=machine_type)
    if save_form(form, lambda: services.save_machine_type(
            machine_type, form.name.data, form.description.data)):
        flash(f"Machine type {machine_type.name} saved.", "success")
        return redirect(url_for("machines.show_type", type_id=machine_type.id))
    return render_page("machines/type_form.html", status=form_status(form), form=form,
                       machine_type=machine_type)


@bp.route("/types/<int:type_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_type(type_id):
    machine_type = db.get_or_404(MachineType, type_id)
    form = ConfirmForm()
    back = url_for("machines.show_type", type_id=type_id)
    if form.validate_on_submit():
        saved = save(lambda: services.delete_machine_type(machine_type))
        if not saved:
            flash(saved.message, "error")
            return redirect(back)
        flash(f"Machine type {machine_type.name} deleted.", "success")
        return redirect(url_for("machines.types"))
    return render_page("confirm.html", form=form, title=f"Delete {machine_type.name}?",
                       message="The type and its metric definitions are removed. Types in "
                               "use by a machine cannot be deleted.",
                       action=url_for("machines.delete_type", type_id=type_id), cancel=back,
                       button="Delete type", danger=True)


def _metric_page(form, machine_type, metric, status):
    return render_page("machines/metric_form.html", status=status, form=form,
                       machine_type=machine_type, metric=metric)


def _save_metric_from(form, machine_type, metric):
    services.save_metric(machine_type, metric, key=form.key.data, label=form.label.data,
                         unit=form.unit.data, kind=form.kind.data,
                         normal_min=form.normal_min.data, normal_max=form.normal_max.data,
                         role=form.role.data)


@bp.route("/types/<int:type_id>/metrics/new", methods=["GET", "POST"])
@managers_only
def new_metric(type_id):
    machine_type = db.get_or_404(MachineType, type_id)
    form = MetricForm()
    metric = Metric()
    if save_form(form, lambda: _save_metric_from(form, machine_type, metric)):
        flash(f"Metric {metric.label} added to {machine_type.name}.", "success")
        return redirect(url_for("machines.show_type", type_id=type_id))
    return _metric_page(form, machine_type, None, form_status(form))


@bp.route("/types/<int:type_id>/metrics/<int:metric_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_metric(type_id, metric_id):
    metric = db.first_or_404(db.select(Metric).filter_by(id=metric_id, machine_type_id=type_id))
    form = MetricForm(obj=metric)
    if request.method == "GET":
        form.role.data = metric.role or ""
    if save_form(form, lambda: _save_metric_from(form, metric.machine_type, metric)):
        flash(f"Metric {metric.label} saved.", "success")
        return redirect(url_for("machines.show_type", type_id=type_id))
    return _metric_page(form, metric.machine_type, metric, form_status(form))


@bp.route("/types/<int:type_id>/metrics/<int:metric_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_metric(type_id, metric_id):
    metric = db.first_or_404(db.select(Metric).filter_by(id=metric_id, machine_type_id=type_id))
    form = ConfirmForm()
    back = url_for("machines.show_type", type_id=type_id)
    if form.validate_on_submit():
        label = metric.label
        save(lambda: services.delete_metric(metric))
        flash(f"Metric {label} removed.", "success")
        return redirect(back)
    return render_page("confirm.html", form=form, title=f"Remove the metric {metric.label}?",
                       message=f"Machines of type {metric.machine_type.name} will no longer "
                               f"be checked for '{metric.key}'.",
                       action=url_for("machines.delete_metric", type_id=type_id,
                                      metric_id=metric_id),
                       cancel=back, button="Remove metric", danger=True)


# --- departments ----------------------------------------------------------------------------

@bp.get("/departments")
@roles_required(*roles.PLANT_WIDE)
def departments():
    return render_page("machines/departments.html", departments=services.departments_ordered())


def _department_page(form, department, status):
    return render_page("machines/department_form.html", status=status, form=form,
                       department=department)


@bp.route("/departments/new", methods=["GET", "POST"])
@managers_only
def new_department():
    form = DepartmentForm()
    department = Department()
    if save_form(form, lambda: services.save_department(department, form.code.data,
                                                        form.name.data)):
        flash(f"Department {department.name} added.", "success")
        return redirect(url_for("machines.departments"))
    return _department_page(form, None, form_status(form))


@bp.route("/departments/<int:department_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_department(department_id):
    department = db.get_or_404(Department, department_id)
    form = DepartmentForm(obj=department)
    if save_form(form, lambda: services.save_department(department, form.code.data,
                                                        form.name.data)):
        flash(f"Department {department.name} saved.", "success")
        return redirect(url_for("machines.departments"))
    return _department_page(form, department, form_status(form))


# --- lines ----------------------------------------------------------------------------------

@bp.get("/lines")
@roles_required(*roles.PLANT_WIDE)
def lines():
    return render_page("machines/lines.html", lines=services.lines_ordered())


def _line_form(line=None):
    form = LineForm(obj=line)
    form.department_id.choices = NONE_CHOICE + [(d.id, d.name) for d in
                                                services.departments_ordered()]
    form.operators.choices = [(u.id, f"{u.display_name} ({u.username})") for u in
                              services.operators_ordered()]
    if request.method == "GET" and line is not None:
        form.department_id.data = line.department_id or 0
        form.operators.data = [u.id for u in line.operators]
    return form


def _save_line_from(form, line):
    operators = [db.session.get(User, uid) for uid in form.operators.data]
    department = db.session.get(Department, form.department_id.data) \
        if form.department_id.data else None
    services.save_line(line, form.code.data, form.name.data, department,
                       [u for u in operators if u])


@bp.route("/lines/new", methods=["GET", "POST"])
@managers_only
def new_line():
    form = _line_form()
    line = Line()
    if save_form(form, lambda: _save_line_from(form, line)):
        flash(f"Line {line.name} added.", "success")
        return redirect(url_for("machines.lines"))
    return render_page("machines/line_form.html", status=form_status(form), form=form,
                       line=None)


@bp.route("/lines/<int:line_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_line(line_id):
    line = db.get_or_404(Line, line_id)
    form = _line_form(line)
    if save_form(form, lambda: _save_line_from(form, line)):
        flash(f"Line {line.name} saved.", "success")
        return redirect(url_for("machines.lines"))
    return render_page("machines/line_form.html", status=form_status(form), form=form,
                       line=line)
