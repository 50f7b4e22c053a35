"""Maintenance plans (tasks.plans) and remedies (the logbook's), as the pages allow.

Plans: everyone but operators reads them with their meters, as /tasks/plans; managers set
them up, change them and switch them off and on (a plan is switched off, never deleted: its
tasks point at it). Remedies: what was done about issues, readable by whoever may see the
issue; they are added on their issue (POST /issues/{id}/remedies), as on the issue page,
which has no editing of a remedy either.
"""

import marshmallow as ma
from flask import g
from marshmallow import validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.logbook import search
from app.blueprints.logbook.access import can_see_issue
from app.blueprints.logbook.models import Issue, Remedy
from app.blueprints.machines.models import Machine
from app.blueprints.tasks import plans
from app.blueprints.tasks.models import TASK_PRIORITIES, MaintenancePlan
from app.core.extensions import db
from app.core.models import utcnow

from . import bp
from .issues import RemedySchema
from .machines import existing
from .rows import changed, created, get_visible
from .schemas import (
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

PRIORITIES = [code for code, _ in TASK_PRIORITIES]
PLAN_SORTS = {"id": MaintenancePlan.id, "title": MaintenancePlan.title,
              "priority": MaintenancePlan.priority, "active": MaintenancePlan.active,
              "created_at": MaintenancePlan.created_at,
              "updated_at": MaintenancePlan.updated_at}
REMEDY_SORTS = {"id": Remedy.id, "performed_at": Remedy.performed_at,
                "minutes_spent": Remedy.minutes_spent, "created_at": Remedy.created_at}


# --- plans --------------------------------------------------------------------------------

class MeterSchema(ma.Schema):
    label = ma.fields.String(required=True, metadata={
        "description": "days, running hours or parts."})
    done = ma.fields.Float(required=True)
    limit = ma.fields.Float(required=True)
    unit = ma.fields.String(required=True)
    reached = ma.fields.Boolean(required=True)


class PlanSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    machine = ma.fields.Nested(MachineRefSchema, required=True)
    title = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    priority = ma.fields.String(required=True, metadata={"enum": PRIORITIES})
    every_days = ma.fields.Integer(required=True, allow_none=True)
    every_running_hours = ma.fields.Float(required=True, allow_none=True)
    every_parts = ma.fields.Integer(required=True, allow_none=True)
    days_to_finish = ma.fields.Integer(required=True)
    active = ma.fields.Boolean(required=True)
    counted_since = ma.fields.DateTime(required=True, metadata={
        "description": "The meters count from here (the last task done, or switched on)."})
    meters = ma.fields.Method("_meters", required=True, metadata={
        "type": "array", "items": {"type": "object"},
        "description": "Progress of each interval: label, done, limit, unit, reached."})
    next_due_at = ma.fields.Method("_next_due", required=True, allow_none=True, metadata={
        "type": ["string", "null"], "format": "date-time",
        "description": "When the days interval falls due (null: by meters only)."})
    created_by = ma.fields.Nested(PersonSchema, required=True, allow_none=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)

    def _meters(self, plan):
        return MeterSchema(many=True).dump(
            [{"label": m.label, "done": m.done, "limit": m.limit, "unit": m.unit,
              "reached": m.reached} for m in plans.meters(plan, utcnow())])

    def _next_due(self, plan):
        due = plans.next_due_date(plan)
        return due.isoformat() if due else None


class PlanVersionSchema(PlanSchema):
    """What the ETag covers: the plan without its meters, which move with the clock."""

    class Meta:
        exclude = ("meters",)


class PlanInput(ma.Schema):
    machine_id = Id(required=True)
    title = Text(required=True, validate=validate.Length(max=200))
    description = Text(validate=validate.Length(max=10_000))
    priority = ma.fields.String(validate=validate.OneOf(PRIORITIES))
    every_days = ma.fields.Integer(allow_none=True, validate=validate.Range(1, plans.MAX_DAYS))
    every_running_hours = ma.fields.Float(allow_none=True, allow_nan=False,
                                          validate=validate.Range(0, plans.MAX_HOURS,
                                                                  min_inclusive=False))
    every_parts = ma.fields.Integer(allow_none=True,
                                    validate=validate.Range(1, plans.MAX_PARTS))
    days_to_finish = ma.fields.Integer(validate=validate.Range(
        1, plans.MAX_DAYS_TO_FINISH), metadata={"description": "Default 3."})


class PlanChanges(PlanInput):
    """The fields to change; the others keep their values."""


class PlanQuery(PageQuery):
    machine = Id(metadata={"description": "Machine id."})
    active = ma.fields.Boolean(metadata={"description": "Only plans switched on (true) or "
                                                        "off (false)."})
    sort = sort_field(PLAN_SORTS, "-active,title")


NEW_PLAN = {"description": "", "priority": "medium", "every_days": None,
            "every_running_hours": None, "every_parts": None, "days_to_finish": 3}


def load_plan(plan_id):
    return get_visible(MaintenancePlan, plan_id, "maintenance plan")


def tagged(plan):
    """The plan, its ETag set from PlanVersionSchema (stable while nobody changes it)."""
    bp.set_etag(plan, PlanVersionSchema)
    return plan


def _plan_values(plan):
    return {"machine_id": plan.machine_id, "title": plan.title,
            "description": plan.description, "priority": plan.priority,
            "every_days": plan.every_days, "every_running_hours": plan.every_running_hours,
            "every_parts": plan.every_parts, "days_to_finish": plan.days_to_finish}


def _save_plan(plan, values):
    plans.save_plan(g.api_user, plan, existing(Machine, values["machine_id"], "machine_id"),
                    values["title"], values["description"], values["priority"],
                    values["every_days"], values["every_running_hours"],
                    values["every_parts"], values["days_to_finish"])
    return plan


@bp.get("/maintenance-plans", tags=["maintenance plans"])
@token_required(*roles.PLANT_WIDE)
@bp.arguments(PlanQuery, location="query")
@bp.response(200, page_schema(PlanSchema))
def list_plans(args):
    """Maintenance plans with their meters (switched-on ones first by default)."""
    stmt = plans.plans_for().options(selectinload(MaintenancePlan.created_by))
    if args.get("machine"):
        stmt = stmt.where(MaintenancePlan.machine_id == args["machine"])
    if "active" in args:
        stmt = stmt.where(MaintenancePlan.active.is_(args["active"]))
    return paginated(sorted_by(stmt, f"{args['sort']},id", PLAN_SORTS), args)


@bp.post("/maintenance-plans", tags=["maintenance plans"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(PlanInput)
@bp.response(201, PlanSchema)
def create_plan(values):
    """Set up a plan (managers): at least one of every_days, every_running_hours (the
    type needs a running flag) or every_parts (a part counter); counting starts now."""
    plan = _save_plan(MaintenancePlan(), {**NEW_PLAN, **values})
    response = created(plan, "api.get_plan", plan_id=plan.id)
    tagged(plan)
    return response


@bp.get("/maintenance-plans/<int:plan_id>", tags=["maintenance plans"])
@token_required(*roles.PLANT_WIDE)
@bp.etag
@bp.response(200, PlanSchema)
def get_plan(plan_id):
    """One plan with its meters; the ETag leaves the meters out (they move with time)."""
    return tagged(load_plan(plan_id))


@bp.patch("/maintenance-plans/<int:plan_id>", tags=["maintenance plans"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(PlanChanges(partial=True))
@bp.response(200, PlanSchema)
def update_plan(changes, plan_id):
    """Change a plan (managers; If-Match); moving it to another machine counts afresh."""
    return tagged(changed(load_plan(plan_id), PlanVersionSchema,
                          lambda plan: _save_plan(plan, {**_plan_values(plan), **changes})))


def _switch(plan_id, active):
    plan = load_plan(plan_id)
    plans.set_active(g.api_user, plan, active)
    db.session.commit()
    return plan


@bp.post("/maintenance-plans/<int:plan_id>/deactivate", tags=["maintenance plans"])
@token_required(*roles.MANAGERS)
@bp.response(200, PlanSchema)
def deactivate_plan(plan_id):
    """Switch a plan off: it makes no more tasks; an open task of it stays."""
    return _switch(plan_id, False)


@bp.post("/maintenance-plans/<int:plan_id>/reactivate", tags=["maintenance plans"])
@token_required(*roles.MANAGERS)
@bp.response(200, PlanSchema)
def reactivate_plan(plan_id):
    """Switch a plan on again; its meters count from now."""
    return _switch(plan_id, True)


# --- remedies -----------------------------------------------------------------------------

class RemedyItemSchema(RemedySchema):
    issue_id = ma.fields.Integer(required=True)
    machine = ma.fields.Nested(MachineRefSchema, required=True, attribute="issue.machine")
    created_at = ma.fields.DateTime(required=True)


class RemedyQuery(PageQuery):
    issue = Id(metadata={"description": "Issue id."})
    machine = Id(metadata={"description": "Machine id."})
    sort = sort_field(REMEDY_SORTS, "-performed_at")


@bp.get("/remedies", tags=["issues"])
@token_required()
@bp.arguments(RemedyQuery, location="query")
@bp.response(200, page_schema(RemedyItemSchema))
def list_remedies(args):
    """Remedies of the issues the user may see (operators: their machines')."""
    issues = search.search_issues(g.api_user, search.IssueFilters(
        machine_id=args.get("machine"))).order_by(None).with_only_columns(Issue.id)
    stmt = select(Remedy).where(Remedy.issue_id.in_(issues)).options(
        selectinload(Remedy.performed_by),
        selectinload(Remedy.issue).selectinload(Issue.machine))
    if args.get("issue"):
        stmt = stmt.where(Remedy.issue_id == args["issue"])
    return paginated(sorted_by(stmt, f"{args['sort']},-id", REMEDY_SORTS), args)


@bp.get("/remedies/<int:remedy_id>", tags=["issues"])
@token_required()
@bp.etag
@bp.response(200, RemedyItemSchema)
def get_remedy(remedy_id):
    """One remedy (whoever may see its issue)."""
    return get_visible(Remedy, remedy_id, "remedy",
                       lambda user, remedy: can_see_issue(user, remedy.issue),
                       "This remedy's machine is not one of yours.")
