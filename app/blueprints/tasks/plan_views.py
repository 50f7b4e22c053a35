"""Maintenance plan pages: the list with each meter's progress, new, edit, on and off."""

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.auth.access import managers_only, roles_required
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Machine
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_status, save, save_form
from app.core.htmx import render_page
from app.core.models import utcnow

from . import bp, plans
from .forms import PlanForm
from .models import MaintenancePlan


def _machine_choices():
    return [(0, "— choose a machine —")] + [(m.id, f"{m.code} · {m.name}")
                                             for m in machine_services.machines_ordered()]


@bp.get("/plans")
@roles_required(*roles.PLANT_WIDE)
def plans_index():
    machine_id = request.args.get("machine", type=int)
    machine = db.session.get(Machine, machine_id) if machine_id else None
    page = db.paginate(plans.plans_for(machine), per_page=current_app.config["PAGE_SIZE"],
                       error_out=False)
    return render_page("tasks/plans.html", page=page, now=utcnow(), meters=plans.meters,
                       next_due=plans.next_due_date, machine=machine,
                       machines=machine_services.machines_ordered(),
                       open_tasks=plans.open_plan_tasks([p.id for p in page.items]))


def _save(form, plan):
    machine = db.session.get(Machine, form.machine_id.data or 0)
    return save_form(form, lambda: plans.save_plan(
        current_user, plan, machine, form.title.data, form.description.data,
        form.priority.data, form.every_days.data, form.every_running_hours.data,
        form.every_parts.data, form.days_to_finish.data))


@bp.route("/plans/new", methods=["GET", "POST"])
@managers_only
def new_plan():
    form = PlanForm()
    form.machine_id.choices = _machine_choices()
    if not form.is_submitted():
        form.machine_id.data = request.args.get("machine", type=int) or 0
    plan = MaintenancePlan()
    if _save(form, plan):
        flash(f"Plan “{plan.title}” saved for {plan.machine.code}; counting starts now.",
              "success")
        return redirect(url_for(".plans_index"))
    return render_page("tasks/plan_form.html", status=form_status(form), form=form,
                       plan=None)


def _text(value):
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


@bp.route("/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@managers_only
def edit_plan(plan_id):
    plan = db.get_or_404(MaintenancePlan, plan_id)
    form = PlanForm(obj=plan)
    form.machine_id.choices = _machine_choices()
    if not form.is_submitted():
        for name in ("every_days", "every_running_hours", "every_parts", "days_to_finish"):
            getattr(form, name).data = _text(getattr(plan, name))
    if _save(form, plan):
        flash(f"Plan “{plan.title}” saved.", "success")
        return redirect(url_for(".plans_index"))
    return render_page("tasks/plan_form.html", status=form_status(form), form=form,
                       plan=db.session.get(MaintenancePlan, plan_id))


@bp.route("/plans/<int:plan_id>/deactivate", methods=["GET", "POST"])
@managers_only
def deactivate_plan(plan_id):
    """Switching a plan off asks first; its open task (if any) stays."""
    plan = db.get_or_404(MaintenancePlan, plan_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            return render_page("tasks/confirm_plan.html", status=422, plan=plan, form=form,
                               error="The form expired; try again.")
        save(lambda: plans.set_active(current_user, plan, False))
        flash(f"Plan “{plan.title}” is switched off: it makes no more tasks.", "success")
        return redirect(url_for(".plans_index"))
    return render_page("tasks/confirm_plan.html", plan=plan, form=form, error=None)


@bp.post("/plans/<int:plan_id>/reactivate")
@managers_only
def reactivate_plan(plan_id):
    plan = db.get_or_404(MaintenancePlan, plan_id)
    if not ConfirmForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for(".plans_index"))
    save(lambda: plans.set_active(current_user, plan, True))
    flash(f"Plan “{plan.title}” is on again; its meters count from now.", "success")
    return redirect(url_for(".plans_index"))
