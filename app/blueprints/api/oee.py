"""OEE from the stored series (`oee_calculations`, docs/oee.md): a line's buckets, each
visible line's current shift, a plant day per line, the dashboard's line OEE, and a manager's
recompute of a line over a bounded range. Nothing here goes back to raw readings, counts or
downtimes: every figure is a stored bucket (or a sum of stored hour buckets).

Readers: everyone plant-wide, as the production pages; an operator only the lines its
machines are on.
"""

from datetime import date, timedelta

import marshmallow as ma
from flask import g
from marshmallow import validate
from sqlalchemy import func, select

from app.blueprints.auth import roles
from app.blueprints.machines.models import Line, Machine
from app.blueprints.machines.services import visible_machines
from app.blueprints.production import oee
from app.blueprints.production.calendar import (
    day_bounds,
    local_day,
    planned_intervals,
    plant_zone,
)
from app.blueprints.production.live import bucket_json
from app.blueprints.production.models import OeeCalculation
from app.blueprints.production.setup import RECOMPUTE_DAYS
from app.core.extensions import db
from app.core.models import as_utc, utcnow

from . import bp
from .errors import JsonError
from .machines import LineRefSchema
from .rows import get_visible
from .schemas import Id
from .tokens import token_required

PERIODS = ("hour", "shift", "day")
# Widest range a series answers / a recompute redoes, per period: a month of hours, a year
# of shifts or days; a recompute of one line a month at a time.
MAX_SPAN = {"hour": timedelta(days=31), "shift": timedelta(days=366),
            "day": timedelta(days=366)}
DEFAULT_SPAN = {"hour": timedelta(days=1), "shift": timedelta(days=7),
                "day": timedelta(days=30)}
MAX_RECOMPUTE = timedelta(days=31)


# --- schemas ------------------------------------------------------------------------------

class LossesSchema(ma.Schema):
    planned_seconds = ma.fields.Float(required=True)
    availability_loss_seconds = ma.fields.Float(required=True)
    run_seconds = ma.fields.Float(required=True)
    performance_loss_seconds = ma.fields.Float(required=True, allow_none=True)
    net_run_seconds = ma.fields.Float(required=True, allow_none=True)
    quality_loss_seconds = ma.fields.Float(required=True, allow_none=True)
    fully_productive_seconds = ma.fields.Float(required=True, allow_none=True)


def _ratio(text):
    return ma.fields.Float(required=True, allow_none=True, metadata={"description": text})


class OeeBucketSchema(ma.Schema):
    """One stored bucket (docs/oee.md "The rules")."""

    period = ma.fields.String(required=True, metadata={"enum": list(PERIODS)})
    start = ma.fields.DateTime(required=True)
    end = ma.fields.DateTime(required=True)
    label = ma.fields.String(required=True, metadata={
        "description": "Plant local: '2026-11-02 07:00', '2026-11-02 Early', '2026-11-02'."})
    no_planned_production = ma.fields.Boolean(required=True, metadata={
        "description": "Nothing was planned: the ratios are null, not 0."})
    availability = _ratio("Run time ÷ planned time, 0–1.")
    performance = _ratio("Ideal time ÷ run time, 0–1 (capped; see performance_over_100); "
                         "null when no piece has an ideal cycle time.")
    quality = _ratio("Good ÷ total, 0–1; null when nothing was made.")
    oee = _ratio("Availability × performance × quality, 0–1.")
    performance_over_100 = ma.fields.Boolean(required=True, metadata={
        "description": "Performance came out above 100 %: the ideal cycle time is wrong."})
    planned_seconds = ma.fields.Float(required=True)
    planned_stop_seconds = ma.fields.Float(required=True)
    downtime_seconds = ma.fields.Float(required=True)
    small_stop_seconds = ma.fields.Float(required=True)
    run_seconds = ma.fields.Float(required=True)
    ideal_seconds = ma.fields.Float(required=True)
    total_count = ma.fields.Integer(required=True)
    good_count = ma.fields.Integer(required=True)
    reject_count = ma.fields.Integer(required=True)
    unrated_count = ma.fields.Integer(required=True)
    losses = ma.fields.Nested(LossesSchema, required=True, allow_none=True, metadata={
        "description": "The loss waterfall in seconds; null with no planned production."})
    computed_at = ma.fields.DateTime(required=True, allow_none=True)


class SeriesQuery(ma.Schema):
    period = ma.fields.String(load_default="shift", validate=validate.OneOf(PERIODS))
    start = ma.fields.AwareDateTime(metadata={
        "description": "Buckets starting at or after (default: end − 1 day of hours, "
                       "7 days of shifts, 30 days of days)."})
    end = ma.fields.AwareDateTime(metadata={"description": "Buckets starting before "
                                                           "(default now)."})


class SeriesSchema(ma.Schema):
    line = ma.fields.Nested(LineRefSchema, required=True)
    period = ma.fields.String(required=True)
    start = ma.fields.DateTime(required=True)
    end = ma.fields.DateTime(required=True)
    items = ma.fields.List(ma.fields.Nested(OeeBucketSchema), required=True, metadata={
        "description": "Stored buckets, oldest first; a bucket with nothing planned, made "
                       "or stopped has no row."})


class CurrentSchema(ma.Schema):
    line = ma.fields.Nested(LineRefSchema, required=True)
    no_planned_production = ma.fields.Boolean(required=True, metadata={
        "description": "No shift of the line's calendar runs now."})
    shift = ma.fields.Nested(OeeBucketSchema, required=True, allow_none=True, metadata={
        "description": "The current shift's stored bucket (its planned time is the whole "
                       "shift); null when no shift runs, or none of its machines has "
                       "counted, stopped or been recomputed yet."})
    so_far = ma.fields.Nested(OeeBucketSchema, required=True, allow_none=True, metadata={
        "description": "The shift up to now: the stored bucket less the planned time still "
                       "ahead by the calendar."})


class CurrentListSchema(ma.Schema):
    at = ma.fields.DateTime(required=True)
    items = ma.fields.List(ma.fields.Nested(CurrentSchema), required=True)


class DayQuery(ma.Schema):
    date = ma.fields.Date(metadata={"description": "Plant local day (default today)."})


class DayLineSchema(ma.Schema):
    line = ma.fields.Nested(LineRefSchema, required=True)
    no_planned_production = ma.fields.Boolean(required=True)
    day = ma.fields.Nested(OeeBucketSchema, required=True, allow_none=True)
    shifts = ma.fields.List(ma.fields.Nested(OeeBucketSchema), required=True, metadata={
        "description": "The shifts that started that day."})


class DailySummarySchema(ma.Schema):
    date = ma.fields.Date(required=True)
    start = ma.fields.DateTime(required=True)
    end = ma.fields.DateTime(required=True)
    items = ma.fields.List(ma.fields.Nested(DayLineSchema), required=True)


class CalculateInput(ma.Schema):
    line_id = Id(required=True)
    start = ma.fields.AwareDateTime(required=True)
    end = ma.fields.AwareDateTime(required=True)

    @ma.validates_schema
    def _range(self, data, **_kwargs):
        if data["end"] <= data["start"]:
            raise ma.ValidationError("Must be after start.", "end")
        if data["end"] - data["start"] > MAX_RECOMPUTE:
            raise ma.ValidationError(f"At most {MAX_RECOMPUTE.days} days at a time.", "end")
        if as_utc(data["start"]) > utcnow():
            raise ma.ValidationError("Must not be in the future.", "start")
        if as_utc(data["end"]) < utcnow() - timedelta(days=RECOMPUTE_DAYS):
            raise ma.ValidationError(f"Only the last {RECOMPUTE_DAYS} days are recomputed; "
                                     "older figures stay as they were reported.", "end")


class CalculatedSchema(ma.Schema):
    line = ma.fields.Nested(LineRefSchema, required=True)
    start = ma.fields.DateTime(required=True, metadata={"description": "As recomputed "
                                                        "(cut to the last 92 days and now)."})
    end = ma.fields.DateTime(required=True)
    buckets = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                             required=True, metadata={
                                 "description": "period → the line's buckets stored now "
                                                "that overlap the range."})
    items = ma.fields.List(ma.fields.Nested(OeeBucketSchema), required=True, metadata={
        "description": "The line's plant days the range touches, as stored now."})


class DashboardOeeSchema(CurrentSchema):
    today = ma.fields.Nested(OeeBucketSchema, required=True, allow_none=True)
    hours = ma.fields.List(ma.fields.Nested(OeeBucketSchema), required=True, metadata={
        "description": "Today's stored hour buckets, oldest first."})


# --- which lines -----------------------------------------------------------------------------

def visible_lines(user):
    """Lines the user reads OEE of: all plant-wide, an operator those of its machines."""
    stmt = select(Line).order_by(Line.code)
    if user.role in roles.MACHINE_BOUND:
        stmt = stmt.where(Line.id.in_(visible_machines(user).with_only_columns(
            Machine.line_id)))
    return db.session.scalars(stmt).all()


def _line(line_id):
    line = get_visible(Line, line_id, "line")
    if g.api_user.role in roles.MACHINE_BOUND and line not in visible_lines(g.api_user):
        raise JsonError(403, "forbidden", "None of this line's machines is yours.")
    return line


def _rows(line_ids, period, start, end):
    """{line id: [stored line buckets of `period` starting in [start, end)]}."""
    rows = db.session.scalars(select(OeeCalculation).where(
        OeeCalculation.machine_id.is_(None), OeeCalculation.line_id.in_(line_ids),
        OeeCalculation.period == period, OeeCalculation.starts_at >= start,
        OeeCalculation.starts_at < end).order_by(OeeCalculation.starts_at)).all()
    out = {ident: [] for ident in line_ids}
    for row in rows:
        out[row.line_id].append(row)
    return out


def _so_far(shift, now):
    """The stored shift bucket without its part still ahead: a stored shift holds the whole
    shift's planned time (each of its machines'), so the planned time of [now, shift end)
    by the line's calendar comes off planned and run time. Downtime and counts are the
    stored ones (as of `computed_at`)."""
    ahead = sum(i.planned_seconds for i in planned_intervals(shift.line_id, now,
                                                             shift.ends_at))
    machines = db.session.scalar(select(func.count()).where(
        OeeCalculation.line_id == shift.line_id, OeeCalculation.machine_id.is_not(None),
        OeeCalculation.period == "shift", OeeCalculation.starts_at == shift.starts_at))
    sums = {key: getattr(shift, key) for key in oee.SUMMED}
    future = min(ahead * machines, sums["planned_seconds"])
    sums["planned_seconds"] -= future
    sums["run_seconds"] = max(sums["run_seconds"] - future, 0.0)
    row = OeeCalculation(period="shift", starts_at=shift.starts_at, ends_at=now,
                         label=f"{shift.label} so far", computed_at=shift.computed_at, **sums)
    result = oee.ratios(sums["planned_seconds"], sums["run_seconds"], sums["ideal_seconds"],
                        sums["total_count"], sums["good_count"], sums["unrated_count"])
    row.availability, row.performance, row.quality = (result.availability,
                                                      result.performance, result.quality)
    row.oee, row.performance_over = result.oee, result.performance_over
    return bucket_json(row)


def current_of(lines, now):
    """Each line's shift running now, from its stored shift bucket."""
    shifts = db.session.scalars(select(OeeCalculation).where(
        OeeCalculation.machine_id.is_(None),
        OeeCalculation.line_id.in_([line.id for line in lines]),
        OeeCalculation.period == "shift", OeeCalculation.starts_at <= now,
        OeeCalculation.ends_at > now)).all()
    by_line = {row.line_id: row for row in shifts}
    out = []
    for line in lines:
        shift = by_line.get(line.id)
        planned = shift.planned if shift else bool(
            planned_intervals(line.id, now, now + timedelta(seconds=1)))
        out.append({"line": line, "no_planned_production": not planned,
                    "shift": bucket_json(shift) if shift else None,
                    "so_far": _so_far(shift, now) if shift else None})
    return out


# --- endpoints -------------------------------------------------------------------------------

@bp.get("/oee/lines/<int:line_id>", tags=["oee"])
@token_required()
@bp.arguments(SeriesQuery, location="query")
@bp.response(200, SeriesSchema)
def line_oee(args, line_id):
    """A line's OEE series by hour, shift or plant day, from the stored buckets."""
    return _line_series(args, line_id)


def _line_series(args, line_id):
    line = _line(line_id)
    period = args["period"]
    end = as_utc(args.get("end") or utcnow())
    start = as_utc(args.get("start") or end - DEFAULT_SPAN[period])
    if end <= start:
        raise JsonError(422, "invalid", "The range is empty.", {"end": "Must be after start."})
    if end - start > MAX_SPAN[period]:
        raise JsonError(422, "invalid", "The range is too wide.", {
            "start": f"At most {MAX_SPAN[period].days} days of {period} buckets at a time."})
    items = _rows([line.id], period, start, end)[line.id]
    return {"line": line, "period": period, "start": start, "end": end,
            "items": [bucket_json(r) for r in items]}


@bp.get("/oee/current", tags=["oee"])
@token_required()
@bp.response(200, CurrentListSchema)
def current_oee():
    """Each line the user sees: the shift running now, as stored and so far."""
    now = utcnow()
    return {"at": now, "items": current_of(visible_lines(g.api_user), now)}


@bp.get("/oee/daily-summary", tags=["oee"])
@token_required()
@bp.arguments(DayQuery, location="query")
@bp.response(200, DailySummarySchema)
def daily_summary(args):
    """One plant local day per line the user sees: the day bucket and its shifts."""
    zone = plant_zone()
    day = args.get("date") or local_day(utcnow(), zone)
    if not date(2000, 1, 1) <= day <= date(2100, 1, 1):
        raise JsonError(422, "invalid", "No such day.", {"date": "Between 2000 and 2100."})
    start, end = day_bounds(day, zone)
    lines = visible_lines(g.api_user)
    ids = [line.id for line in lines]
    days, shifts = _rows(ids, "day", start, end), _rows(ids, "shift", start, end)
    items = []
    for line in lines:
        row = days[line.id][0] if days[line.id] else None
        items.append({"line": line, "no_planned_production": row is None or not row.planned,
                      "day": bucket_json(row) if row else None,
                      "shifts": [bucket_json(s) for s in shifts[line.id]]})
    return {"date": day, "start": start, "end": end, "items": items}


@bp.post("/oee/calculate", tags=["oee"])
@token_required(*roles.MANAGERS)
@bp.arguments(CalculateInput)
@bp.response(200, CalculatedSchema)
def calculate_oee(values):
    """Recompute a line's stored buckets over a range (at most 31 days, within the last 92):
    the same recompute a calendar edit runs. Answers with what is stored now."""
    line = _line(values["line_id"])
    now = utcnow()
    start = max(as_utc(values["start"]), now - timedelta(days=RECOMPUTE_DAYS))
    end = min(as_utc(values["end"]), now)
    oee.refresh_line(line, start, end)
    db.session.commit()
    touched = db.session.scalars(select(OeeCalculation).where(
        OeeCalculation.machine_id.is_(None), OeeCalculation.line_id == line.id,
        OeeCalculation.starts_at < end, OeeCalculation.ends_at > start)
        .order_by(OeeCalculation.starts_at)).all()
    return {"line": line, "start": start, "end": end,
            "buckets": {p: sum(1 for r in touched if r.period == p) for p in PERIODS},
            "items": [bucket_json(r) for r in touched if r.period == "day"]}


@bp.get("/dashboard/lines/<int:line_id>/oee", tags=["dashboard"])
@token_required()
@bp.response(200, DashboardOeeSchema)
def dashboard_line_oee(line_id):
    """A line's OEE for the dashboard: the shift now, today so far and today's hours."""
    line = _line(line_id)
    now = utcnow()
    start, end = day_bounds(local_day(now))
    today = _rows([line.id], "day", start, end)[line.id]
    return {**current_of([line], now)[0], "today": bucket_json(today[0]) if today else None,
            "hours": [bucket_json(r) for r in _rows([line.id], "hour", start, now)[line.id]]}

