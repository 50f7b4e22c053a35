"""The floor-dashboard seed's extras: a machine's faults, maintenance asked for by code, and
the dashboard's summary, lines, line status and the logbook's metrics.

Everything is counted over the machines the token's user may see (an operator: its own),
through each domain's own visibility: andon.visible_calls, alerts.visible_alerts,
logbook.search_issues, tasks.visible_tasks. A line's state is derived, not stored:

- `andon`: an andon call on one of its machines is waiting for an answer;
- `attention`: an open alert, or a machine that stopped reporting (silent, unreachable);
- `running`: machines, none of the above; `empty`: no machines (that the user sees).
"""

from collections import Counter

import marshmallow as ma
from flask import g
from marshmallow import validate
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.blueprints.alerts import alert_services
from app.blueprints.alerts.access import ALERT_READERS
from app.blueprints.alerts.models import Alert
from app.blueprints.andon import services as andon
from app.blueprints.andon.models import AndonCall
from app.blueprints.auth import roles
from app.blueprints.dashboard import services as dashboard
from app.blueprints.logbook import metrics as logbook_metrics
from app.blueprints.logbook import search
from app.blueprints.logbook.models import Issue
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Line, Machine, MachineType
from app.blueprints.tasks import services as tasks
from app.blueprints.tasks.models import Task
from app.core.extensions import db
from app.core.models import utcnow

from . import bp
from .alerts import AlertSchema
from .andon import AndonEventSchema
from .equipment import CONNECTIVITY, EquipmentSchema, equipment_of, machine_by_code
from .errors import JsonError
from .issues import IssueSchema
from .machines import LineRefSchema, MachineSchema
from .rows import get_visible
from .tasks import TaskDetailSchema, TaskInput, make_task
from .tokens import token_required

LINE_STATES = ["andon", "attention", "running", "empty"]
STATUSES = ["active", "maintenance", "commissioning", "retired"]


# --- schemas ------------------------------------------------------------------------------

class FaultsSchema(ma.Schema):
    machine = ma.fields.Nested(MachineSchema, required=True)
    alerts = ma.fields.List(ma.fields.Nested(AlertSchema), required=True, allow_none=True,
                            metadata={"description": "Open alerts; null for roles that do "
                                                     "not see alerts (as on the pages)."})
    issues = ma.fields.List(ma.fields.Nested(IssueSchema), required=True, metadata={
        "description": "Logbook issues not resolved yet."})
    andon_events = ma.fields.List(ma.fields.Nested(AndonEventSchema), required=True,
                                  metadata={"description": "Andon calls not resolved yet."})


class MaintenanceInput(TaskInput):
    """As POST /tasks, the machine named by the path."""

    class Meta:
        exclude = ("machine_id",)


class CountsSchema(ma.Schema):
    machines = ma.fields.Integer(required=True)
    by_status = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                               required=True, metadata={"description": "Machine status → "
                                                        "count (active, maintenance …)."})
    by_connectivity = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                                     required=True, metadata={
                                         "description": "reporting, silent, unreachable, "
                                                        "none → count."})
    active_andon_events = ma.fields.Integer(required=True)
    open_alerts = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "null for roles that do not see alerts."})
    open_issues = ma.fields.Integer(required=True)
    open_tasks = ma.fields.Integer(required=True)
    overdue_tasks = ma.fields.Integer(required=True)


class SummarySchema(CountsSchema):
    lines = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), required=True,
                           metadata={"description": "Line state → count of lines."})
    people = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                            required=True, allow_none=True, metadata={
                                "description": "Active users by role (null for operators)."})
    pending_logins = ma.fields.Integer(required=True, allow_none=True, metadata={
        "description": "Users who have not replaced their one-time password yet."})
    at = ma.fields.DateTime(required=True)


class DashboardLineSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    department = ma.fields.Nested(LineRefSchema, required=True, allow_none=True)
    state = ma.fields.String(required=True, metadata={"enum": LINE_STATES})
    counts = ma.fields.Nested(CountsSchema, required=True)


class DashboardLinesSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(DashboardLineSchema), required=True)
    unassigned = ma.fields.Nested(CountsSchema, required=True, metadata={
        "description": "The machines on no line."})


class LineStatusSchema(DashboardLineSchema):
    machines = ma.fields.List(ma.fields.Nested(EquipmentSchema), required=True)
    andon_events = ma.fields.List(ma.fields.Nested(AndonEventSchema), required=True)


class DaysQuery(ma.Schema):
    days = ma.fields.Integer(load_default=logbook_metrics.DAYS_DEFAULT,
                             validate=validate.Range(1, logbook_metrics.DAYS_MAX), metadata={
                                 "description": "The last N calendar days (UTC), today "
                                                "included."})


class LabelCountSchema(ma.Schema):
    value = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    count = ma.fields.Integer(required=True)


class MachineNumbersSchema(ma.Schema):
    machine = ma.fields.Nested(LineRefSchema, required=True)
    issues = ma.fields.Integer(required=True)
    failures = ma.fields.Integer(required=True)
    downtime_hours = ma.fields.Float(required=True)
    mttr_hours = ma.fields.Float(required=True, allow_none=True)
    mtbf_hours = ma.fields.Float(required=True, allow_none=True)


class BucketSchema(ma.Schema):
    start = ma.fields.Date(required=True)
    end = ma.fields.Date(required=True)
    opened = ma.fields.Integer(required=True)
    resolved = ma.fields.Integer(required=True)


class RepeatMachineSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    count = ma.fields.Integer(required=True)


class RepeatCodeSchema(ma.Schema):
    code = ma.fields.String(required=True)
    count = ma.fields.Integer(required=True)
    machine_count = ma.fields.Integer(required=True)
    machines = ma.fields.List(ma.fields.Nested(RepeatMachineSchema), required=True)


class MetricsSchema(ma.Schema):
    days = ma.fields.Integer(required=True)
    start = ma.fields.DateTime(required=True)
    end = ma.fields.DateTime(required=True)
    opened = ma.fields.Integer(required=True)
    resolved = ma.fields.Integer(required=True)
    open_now = ma.fields.Integer(required=True)
    bucket_days = ma.fields.Integer(required=True, metadata={
        "description": "Days per bucket of `series`: 1, 7 or 30."})
    series = ma.fields.List(ma.fields.Nested(BucketSchema), required=True)
    by_category = ma.fields.List(ma.fields.Nested(LabelCountSchema), required=True)
    by_status = ma.fields.List(ma.fields.Nested(LabelCountSchema), required=True)
    top_machines = ma.fields.List(ma.fields.Nested(MachineNumbersSchema), required=True)
    machines = ma.fields.List(ma.fields.Nested(MachineNumbersSchema), required=True)
    downtime_hours = ma.fields.Float(required=True)
    failures = ma.fields.Integer(required=True)
    mttr_hours = ma.fields.Float(required=True, allow_none=True)
    mttr_count = ma.fields.Integer(required=True)
    repeat_codes = ma.fields.List(ma.fields.Nested(RepeatCodeSchema), required=True)


# --- equipment: faults and maintenance ----------------------------------------------------

def _visible_by_code(code):
    machine = machine_by_code(code)
    if not machine_services.can_see_machine(g.api_user, machine):
        raise JsonError(403, "forbidden", "This machine is not one of yours.")
    return machine


@bp.get("/equipment/<string:code>/faults", tags=["equipment"])
@token_required()
@bp.response(200, FaultsSchema)
def equipment_faults(code):
    """What is wrong with a machine now: open alerts, unresolved issues, active andon calls."""
    machine = _visible_by_code(code)
    user = g.api_user
    alerts = None
    if user.role in ALERT_READERS:
        alerts = db.session.scalars(alert_services.search_alerts(
            user, alert_services.AlertFilters(state="open", machine_id=machine.id))).all()
    issues = db.session.scalars(search.with_list_details(search.search_issues(
        user, search.IssueFilters(status="unresolved", machine_id=machine.id)))).all()
    return {"machine": machine, "alerts": alerts, "issues": issues,
            "andon_events": andon.active_calls(user, [machine.id])}


@bp.post("/equipment/<string:code>/maintenance", tags=["equipment"])
@token_required(*tasks.CREATORS)
@bp.arguments(MaintenanceInput)
@bp.response(201, TaskDetailSchema)
def schedule_maintenance(values, code):
    """A maintenance task for the machine (as POST /tasks: managers, engineers,
    maintenance)."""
    return make_task(_visible_by_code(code), values)


# --- dashboard ----------------------------------------------------------------------------

def _per_machine(stmt, column):
    """{machine id: count} of a domain's visible select, in one grouped query."""
    grouped = stmt.order_by(None).with_only_columns(column, func.count()).group_by(column)
    return dict(db.session.execute(grouped).all())


class Floor:
    """The user's machines with their live state and what is open on each, in a fixed
    handful of queries however many machines."""

    def __init__(self, user, line_id=None):
        self.user = user
        stmt = machine_services.visible_machines(user).options(
            selectinload(Machine.state), selectinload(Machine.line),
            selectinload(Machine.machine_type).selectinload(MachineType.metrics))
        if line_id is not None:
            stmt = stmt.where(Machine.line_id == line_id)
        self.machines = db.session.scalars(stmt.order_by(Machine.code)).all()
        ids = [m.id for m in self.machines]
        now = utcnow()
        self.andon = _per_machine(andon.visible_calls(user).where(
            AndonCall.resolved_at.is_(None), AndonCall.machine_id.in_(ids)),
            AndonCall.machine_id)
        self.alerts = None
        if user.role in ALERT_READERS:
            self.alerts = _per_machine(alert_services.visible_alerts(user).where(
                Alert.closed_at.is_(None), Alert.machine_id.in_(ids)), Alert.machine_id)
        self.issues = _per_machine(search.search_issues(user, search.IssueFilters(
            status="unresolved")).where(Issue.machine_id.in_(ids)), Issue.machine_id)
        open_tasks = tasks.visible_tasks(user).where(Task.status != "finished",
                                                     Task.machine_id.in_(ids))
        self.tasks = _per_machine(open_tasks, Task.machine_id)
        self.overdue = _per_machine(open_tasks.where(Task.due_at < now), Task.machine_id)
        self.live = {m.id: equipment_of(m) for m in self.machines}

    def counts(self, machines):
        def total(per):
            return sum(per.get(m.id, 0) for m in machines)
        return {"machines": len(machines),
                "by_status": dict(Counter(m.status for m in machines)),
                "by_connectivity": {c: sum(1 for m in machines
                                           if self.live[m.id]["connectivity"] == c)
                                    for c in CONNECTIVITY},
                "active_andon_events": total(self.andon),
                "open_alerts": None if self.alerts is None else total(self.alerts),
                "open_issues": total(self.issues), "open_tasks": total(self.tasks),
                "overdue_tasks": total(self.overdue)}

    def state(self, machines):
        counts = self.counts(machines)
        if not machines:
            return "empty"
        if counts["active_andon_events"]:
            return "andon"
        quiet = counts["by_connectivity"]["silent"] + counts["by_connectivity"]["unreachable"]
        return "attention" if counts["open_alerts"] or quiet else "running"

    def lines(self):
        """(line, its machines) for every line the user sees: all lines for plant-wide
        roles, the lines of its machines for an operator."""
        on_line = {}
        for machine in self.machines:
            if machine.line_id is not None:
                on_line.setdefault(machine.line_id, []).append(machine)
        if self.user.role in roles.MACHINE_BOUND:
            lines = sorted({m.line for m in self.machines if m.line}, key=lambda ln: ln.name)
        else:
            lines = db.session.scalars(select(Line).options(selectinload(Line.department))
                                       .order_by(Line.name)).all()
        return [(line, on_line.get(line.id, [])) for line in lines]

    def line_entry(self, line, machines):
        return {"id": line.id, "code": line.code, "name": line.name,
                "department": line.department, "state": self.state(machines),
                "counts": self.counts(machines)}


@bp.get("/dashboard/summary", tags=["dashboard"])
@token_required()
@bp.response(200, SummarySchema)
def dashboard_summary():
    """The plant (an operator: its machines) in numbers."""
    floor = Floor(g.api_user)
    summary = floor.counts(floor.machines)
    summary["lines"] = dict(Counter(floor.state(ms) for _, ms in floor.lines()))
    summary["people"] = summary["pending_logins"] = None
    if g.api_user.role not in roles.MACHINE_BOUND:
        plant = dashboard.plant_summary()
        summary["people"], summary["pending_logins"] = plant["people"], plant["pending_logins"]
    summary["at"] = utcnow()
    return summary


@bp.get("/dashboard/lines", tags=["dashboard"])
@token_required()
@bp.response(200, DashboardLinesSchema)
def dashboard_lines():
    """Every line with its state and counts (an operator: the lines of its machines)."""
    floor = Floor(g.api_user)
    loose = [m for m in floor.machines if m.line_id is None]
    return {"items": [floor.line_entry(line, ms) for line, ms in floor.lines()],
            "unassigned": floor.counts(loose)}


@bp.get("/dashboard/lines/<int:line_id>/status", tags=["dashboard"])
@token_required()
@bp.response(200, LineStatusSchema)
def dashboard_line_status(line_id):
    """One line now: its state, counts, machines with live values, andon calls waiting."""
    line = get_visible(Line, line_id, "line")
    floor = Floor(g.api_user, line_id=line.id)
    if g.api_user.role in roles.MACHINE_BOUND and not floor.machines:
        raise JsonError(403, "forbidden", "None of this line's machines is yours.")
    calls = andon.active_calls(g.api_user, [m.id for m in floor.machines])
    return {**floor.line_entry(line, floor.machines),
            "machines": [floor.live[m.id] for m in floor.machines], "andon_events": calls}


@bp.get("/dashboard/metrics", tags=["dashboard"])
@token_required()
@bp.arguments(DaysQuery, location="query")
@bp.response(200, MetricsSchema)
def dashboard_metrics(args):
    """The logbook's numbers over the last `days` days (the logbook seed's metrics): issues
    opened and resolved, MTTR, MTBF, downtime, repeat alarm codes; the user's machines."""
    data = logbook_metrics.logbook_metrics(g.api_user, args["days"])
    window = data["window"]
    return {**data, "days": window.days, "start": window.start, "end": window.end,
            "bucket_days": data["series"]["size"], "series": data["series"]["buckets"]}
