"""Production setup pages: shift patterns, line assignments, exceptions, products, reasons.

Everyone plant-wide may read them; managers change them. Each view loads, checks the role,
calls one service in `setup` and commits once through `save_form` / `save`.
"""

from flask import flash, redirect, request, url_for
from sqlalchemy import select

from app.blueprints.auth import roles
from app.blueprints.auth.access import managers_only, roles_required
from app.blueprints.machines.models import Line, Machine
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_status, save, save_form
from app.core.htmx import render_page
from app.core.models import utcnow

from . import bp, oee, setup
from .calendar import local_day
from .forms import (
    WEEKDAYS,
    AssignmentForm,
    BreakForm,
    CategoryForm,
    CycleForm,
    ExceptionForm,
    PatternForm,
    ProductForm,
    ReasonForm,
    ShiftForm,
)
from .models import (
    CalendarException,
    IdealCycle,
    LinePattern,
    Product,
    Reason,
    ReasonCategory,
    Shift,
    ShiftBreak,
    ShiftPattern,
)

READERS = roles.PLANT_WIDE
NO_LINE = [(0, "Every line (whole plant)")]


def _form_page(form, title, action, cancel, status=None, intro=""):
    """The one page every production form is drawn on."""
    return render_page("production/form.html", status=status or form_status(form), form=form,
                       title=title, action=action, cancel=cancel, intro=intro)


def _confirm(title, message, action, cancel, button):
    return render_page("confirm.html", form=ConfirmForm(), title=title, message=message,
                       action=action, cancel=cancel, button=button, danger=True)


def _lines():
    return db.session.scalars(select(Line).order_by(Line.code)).all()


# --- overview -------------------------------------------------------------------------------

@bp.get("/")
@roles_required(*READERS)
def index():
    today = local_day(utcnow())
    return render_page("production/index.html", today=today,
                       lines=setup.line_overview(today),
                       exceptions=setup.upcoming_exceptions(today),
                       shifts_today=oee.line_shifts_on(today))


# --- shift patterns, shifts, breaks ---------------------------------------------------------

@bp.get("/patterns")
@roles_required(*READERS)
def patterns():
    return render_page("production/patterns.html", patterns=setup.patterns_ordered(),
                       assignments=setup.assignments_ordered())


def _save_pattern_from(form, pattern):
    return setup.save_pattern(pattern, form.name.data, form.cycle_days.data,
                              form.cycle_start.data, form.description.data)


@bp.route("/patterns/new", methods=["GET", "POST"])
@managers_only
def new_pattern():
    form, pattern = PatternForm(), ShiftPattern()
    if save_form(form, lambda: _save_pattern_from(form, pattern)):
        flash(f"Pattern {pattern.name} created. Now add its shifts.", "success")
        return redirect(url_for("production.show_pattern", pattern_id=pattern.id))
    return _form_page(form, "New shift pattern", url_for("production.new_pattern"),
                      url_for("production.patterns"))


@bp.get("/patterns/<int:pattern_id>")
@roles_required(*READERS)
def show_pattern(pattern_id):
    pattern = db.get_or_404(ShiftPattern, pattern_id)
    return render_page("production/pattern.html", pattern=pattern,
                       day_names=_day_names(pattern),
                       lines=setup.lines_of_pattern(pattern))


@bp.route("/patterns/<int:pattern_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_pattern(pattern_id):
    pattern = db.get_or_404(ShiftPattern, pattern_id)
    form = PatternForm(obj=pattern)
    if save_form(form, lambda: _save_pattern_from(form, pattern)):
        flash(f"Pattern {pattern.name} saved.", "success")
        return redirect(url_for("production.show_pattern", pattern_id=pattern.id))
    return _form_page(form, f"Edit {pattern.name}",
                      url_for("production.edit_pattern", pattern_id=pattern.id),
                      url_for("production.show_pattern", pattern_id=pattern.id))


def _day_names(pattern):
    if pattern.weekly:
        return dict(WEEKDAYS)
    return {d: f"Day {d}" for d in range(1, pattern.cycle_days + 1)}


def _shift_form(pattern, shift=None):
    form = ShiftForm(obj=shift)
    form.days.choices = list(_day_names(pattern).items())
    if request.method == "GET" and shift is not None:
        form.days.data = shift.day_numbers
    return form


def _save_shift_from(form, pattern, shift):
    return setup.save_shift(pattern, shift, form.name.data, form.starts.data, form.ends.data,
                            form.days.data)


@bp.route("/patterns/<int:pattern_id>/shifts/new", methods=["GET", "POST"])
@managers_only
def new_shift(pattern_id):
    pattern = db.get_or_404(ShiftPattern, pattern_id)
    form, shift = _shift_form(pattern), Shift()
    back = url_for("production.show_pattern", pattern_id=pattern.id)
    if save_form(form, lambda: _save_shift_from(form, pattern, shift)):
        flash(f"Shift {shift.name} added to {pattern.name}.", "success")
        return redirect(back)
    return _form_page(form, f"New shift in {pattern.name}",
                      url_for("production.new_shift", pattern_id=pattern.id), back,
                      intro="Times are plant time; the real length of each shift follows "
                            "the clock changes.")


@bp.route("/shifts/<int:shift_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_shift(shift_id):
    shift = db.get_or_404(Shift, shift_id)
    form = _shift_form(shift.pattern, shift)
    back = url_for("production.show_pattern", pattern_id=shift.pattern_id)
    if save_form(form, lambda: _save_shift_from(form, shift.pattern, shift)):
        flash(f"Shift {shift.name} saved.", "success")
        return redirect(back)
    return _form_page(form, f"Edit shift {shift.name}",
                      url_for("production.edit_shift", shift_id=shift.id), back)


@bp.route("/shifts/<int:shift_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_shift(shift_id):
    shift = db.get_or_404(Shift, shift_id)
    back = url_for("production.show_pattern", pattern_id=shift.pattern_id)
    if ConfirmForm().validate_on_submit():
        name = shift.name
        save(lambda: setup.delete_shift(shift))
        flash(f"Shift {name} removed.", "success")
        return redirect(back)
    return _confirm(f"Remove the shift {shift.name}?",
                    "Lines on this pattern no longer plan production in it; their recent "
                    "OEE is worked out again.",
                    url_for("production.delete_shift", shift_id=shift.id), back, "Remove shift")


@bp.route("/shifts/<int:shift_id>/breaks/new", methods=["GET", "POST"])
@managers_only
def new_break(shift_id):
    shift = db.get_or_404(Shift, shift_id)
    form, stop = BreakForm(), ShiftBreak()
    back = url_for("production.show_pattern", pattern_id=shift.pattern_id)
    if save_form(form, lambda: setup.save_break(shift, stop, form.name.data, form.starts.data,
                                                form.ends.data)):
        flash(f"Break {stop.name} added to {shift.name}.", "success")
        return redirect(back)
    return _form_page(form, f"New break in {shift.name} ({shift.starts:%H:%M}–"
                            f"{shift.ends:%H:%M})",
                      url_for("production.new_break", shift_id=shift.id), back,
                      intro="A break is a planned stop: it is not planned production time.")


@bp.route("/breaks/<int:break_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_break(break_id):
    stop = db.get_or_404(ShiftBreak, break_id)
    back = url_for("production.show_pattern", pattern_id=stop.shift.pattern_id)
    if ConfirmForm().validate_on_submit():
        name = stop.name
        save(lambda: setup.delete_break(stop))
        flash(f"Break {name} removed.", "success")
        return redirect(back)
    return _confirm(f"Remove the break {stop.name}?", "Its time becomes planned production.",
                    url_for("production.delete_break", break_id=stop.id), back,
                    "Remove break")


# --- line assignments -----------------------------------------------------------------------

@bp.route("/assignments/new", methods=["GET", "POST"])
@managers_only
def new_assignment():
    form = AssignmentForm()
    form.line_id.choices = [(line.id, f"{line.code} · {line.name}") for line in _lines()]
    form.pattern_id.choices = [(p.id, p.name) for p in setup.patterns_ordered()]
    if request.method == "GET" and request.args.get("pattern", "").isdigit():
        form.pattern_id.data = int(request.args["pattern"])
    if save_form(form, lambda: setup.assign_pattern(
            db.session.get(Line, form.line_id.data),
            db.session.get(ShiftPattern, form.pattern_id.data), form.effective_from.data)):
        flash("Line assigned. Its recent OEE is being worked out again.", "success")
        return redirect(url_for("production.patterns"))
    return _form_page(form, "Assign a pattern to a line",
                      url_for("production.new_assignment"), url_for("production.patterns"))


@bp.route("/assignments/<int:assignment_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_assignment(assignment_id):
    assignment = db.get_or_404(LinePattern, assignment_id)
    back = url_for("production.patterns")
    if ConfirmForm().validate_on_submit():
        save(lambda: setup.remove_assignment(assignment))
        flash("Assignment removed.", "success")
        return redirect(back)
    return _confirm(f"Remove {assignment.line.name} → {assignment.pattern.name}?",
                    f"From {assignment.effective_from:%d %b %Y} the line follows its "
                    "previous assignment, or plans nothing.",
                    url_for("production.delete_assignment", assignment_id=assignment.id),
                    back, "Remove assignment")


# --- exceptions -----------------------------------------------------------------------------

@bp.get("/exceptions")
@roles_required(*READERS)
def exceptions():
    return render_page("production/exceptions.html", exceptions=setup.exceptions_ordered())


def _exception_form(exception=None):
    form = ExceptionForm(obj=exception)
    form.line_id.choices = NO_LINE + [(line.id, f"{line.code} · {line.name}")
                                      for line in _lines()]
    if request.method == "GET" and exception is not None:
        form.line_id.data = exception.line_id or 0
    return form


def _save_exception_from(form, exception):
    line = db.session.get(Line, form.line_id.data) if form.line_id.data else None
    return setup.save_exception(exception, form.kind.data, form.name.data,
                                form.first_day.data, form.last_day.data, line=line,
                                starts=form.starts.data, ends=form.ends.data)


@bp.route("/exceptions/new", methods=["GET", "POST"])
@managers_only
def new_exception():
    form, exception = _exception_form(), CalendarException()
    if save_form(form, lambda: _save_exception_from(form, exception)):
        flash(f"{exception.kind_label} {exception.name} saved.", "success")
        return redirect(url_for("production.exceptions"))
    return _form_page(form, "New calendar exception", url_for("production.new_exception"),
                      url_for("production.exceptions"),
                      intro="Holidays and shutdowns take away the shifts starting on their "
                            "days; overtime and extra shifts add time each day of the range.")


@bp.route("/exceptions/<int:exception_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_exception(exception_id):
    exception = db.get_or_404(CalendarException, exception_id)
    form = _exception_form(exception)
    if save_form(form, lambda: _save_exception_from(form, exception)):
        flash(f"{exception.kind_label} {exception.name} saved.", "success")
        return redirect(url_for("production.exceptions"))
    return _form_page(form, f"Edit {exception.name}",
                      url_for("production.edit_exception", exception_id=exception.id),
                      url_for("production.exceptions"))


@bp.route("/exceptions/<int:exception_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_exception(exception_id):
    exception = db.get_or_404(CalendarException, exception_id)
    back = url_for("production.exceptions")
    if ConfirmForm().validate_on_submit():
        name = exception.name
        save(lambda: setup.delete_exception(exception))
        flash(f"{name} removed.", "success")
        return redirect(back)
    return _confirm(f"Remove {exception.name}?", "The regular shifts apply on its days again.",
                    url_for("production.delete_exception", exception_id=exception.id), back,
                    "Remove exception")


# --- products -------------------------------------------------------------------------------

@bp.get("/products")
@roles_required(*READERS)
def products():
    return render_page("production/products.html", products=setup.products_ordered())


def _save_product_from(form, product):
    return setup.save_product(product, form.code.data, form.name.data, form.description.data,
                              form.active.data)


@bp.route("/products/new", methods=["GET", "POST"])
@managers_only
def new_product():
    form, product = ProductForm(), Product()
    if save_form(form, lambda: _save_product_from(form, product)):
        flash(f"Product {product.code} added. Now give its ideal cycle time.", "success")
        return redirect(url_for("production.show_product", product_id=product.id))
    return _form_page(form, "New product", url_for("production.new_product"),
                      url_for("production.products"))


def _cycle_form():
    form = CycleForm()
    machines = db.session.scalars(select(Machine).order_by(Machine.code)).all()
    form.place.choices = [("", "Choose …")] + \
        [(f"line-{line.id}", f"Line {line.code} · {line.name}") for line in _lines()] + \
        [(f"machine-{m.id}", f"Machine {m.code} · {m.name}") for m in machines]
    return form


@bp.get("/products/<int:product_id>")
@roles_required(*READERS)
def show_product(product_id):
    product = db.get_or_404(Product, product_id)
    return render_page("production/product.html", product=product, form=_cycle_form())


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_product(product_id):
    product = db.get_or_404(Product, product_id)
    form = ProductForm(obj=product)
    back = url_for("production.show_product", product_id=product.id)
    if save_form(form, lambda: _save_product_from(form, product)):
        flash(f"Product {product.code} saved.", "success")
        return redirect(back)
    return _form_page(form, f"Edit {product.code}",
                      url_for("production.edit_product", product_id=product.id), back)


def _set_cycle_from(form, product):
    kind, _, place_id = form.place.data.partition("-")
    line = db.session.get(Line, int(place_id)) if kind == "line" else None
    machine = db.session.get(Machine, int(place_id)) if kind == "machine" else None
    seconds = setup.ideal_seconds(form.seconds.data, form.per_hour.data)
    return setup.set_ideal_cycle(product, seconds, line=line, machine=machine)


@bp.post("/products/<int:product_id>/cycles")
@managers_only
def set_cycle(product_id):
    product = db.get_or_404(Product, product_id)
    form = _cycle_form()
    if save_form(form, lambda: _set_cycle_from(form, product)):
        flash(f"Ideal cycle time of {product.code} saved.", "success")
        return redirect(url_for("production.show_product", product_id=product.id))
    return render_page("production/product.html", status=422, product=product, form=form)


@bp.route("/cycles/<int:cycle_id>/delete", methods=["GET", "POST"])
@managers_only
def delete_cycle(cycle_id):
    cycle = db.get_or_404(IdealCycle, cycle_id)
    back = url_for("production.show_product", product_id=cycle.product_id)
    if ConfirmForm().validate_on_submit():
        save(lambda: setup.delete_cycle(cycle))
        flash("Ideal cycle time removed.", "success")
        return redirect(back)
    place = cycle.line.name if cycle.line else cycle.machine.code
    return _confirm(f"Remove the ideal cycle time on {place}?",
                    "Counts of this product there get no performance figure until a cycle "
                    "time is given again.",
                    url_for("production.delete_cycle", cycle_id=cycle.id), back,
                    "Remove cycle time")


# --- the reason tree ------------------------------------------------------------------------

@bp.get("/reasons")
@roles_required(*READERS)
def reasons():
    return render_page("production/reasons.html", categories=setup.reason_tree())


@bp.route("/reasons/categories/new", methods=["GET", "POST"])
@managers_only
def new_category():
    form, category = CategoryForm(), ReasonCategory()
    if save_form(form, lambda: setup.save_category(category, form.name.data)):
        flash(f"Category {category.name} added.", "success")
        return redirect(url_for("production.reasons"))
    return _form_page(form, "New reason category", url_for("production.new_category"),
                      url_for("production.reasons"))


@bp.route("/reasons/categories/<int:category_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_category(category_id):
    category = db.get_or_404(ReasonCategory, category_id)
    form = CategoryForm(obj=category)
    if save_form(form, lambda: setup.save_category(category, form.name.data)):
        flash(f"Category {category.name} saved.", "success")
        return redirect(url_for("production.reasons"))
    return _form_page(form, f"Edit {category.name}",
                      url_for("production.edit_category", category_id=category.id),
                      url_for("production.reasons"))


def _reason_form(reason=None):
    form = ReasonForm(obj=reason)
    form.category_id.choices = [(c.id, c.name) for c in setup.reason_tree()]
    if request.method == "GET" and reason is None and \
            request.args.get("category", "").isdigit():
        form.category_id.data = int(request.args["category"])
    return form


def _save_reason_from(form, reason):
    category = db.session.get(ReasonCategory, form.category_id.data)
    return setup.save_reason(reason, category, form.name.data, form.loss.data,
                             form.planned.data, form.active.data)


@bp.route("/reasons/new", methods=["GET", "POST"])
@managers_only
def new_reason():
    form, reason = _reason_form(), Reason()
    if save_form(form, lambda: _save_reason_from(form, reason)):
        flash(f"Reason {reason.name} added.", "success")
        return redirect(url_for("production.reasons"))
    return _form_page(form, "New reason", url_for("production.new_reason"),
                      url_for("production.reasons"))


@bp.route("/reasons/<int:reason_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_reason(reason_id):
    reason = db.get_or_404(Reason, reason_id)
    form = _reason_form(reason)
    if save_form(form, lambda: _save_reason_from(form, reason)):
        flash(f"Reason {reason.name} saved.", "success")
        return redirect(url_for("production.reasons"))
    return _form_page(form, f"Edit {reason.name}",
                      url_for("production.edit_reason", reason_id=reason.id),
                      url_for("production.reasons"),
                      intro="Reasons already used are retired (untick In use), not deleted.")
