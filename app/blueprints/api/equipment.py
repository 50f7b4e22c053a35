"""Equipment as the floor-dashboard seed reads it: machines with their live state.

Connectivity and levels come from telemetry's live values, the same the machine tiles
show ("reporting", "silent", "unreachable", "none").
"""

import marshmallow as ma
from flask import g
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.blueprints.machines import services
from app.blueprints.machines.models import Machine, MachineType
from app.blueprints.telemetry.live import equipment_json
from app.core.extensions import db

from . import bp
from .errors import JsonError
from .machines import SORTS, LineRefSchema, MachineQuery, machines_matching
from .schemas import page_schema, paginated, sorted_by
from .tokens import token_required

CONNECTIVITY = ["reporting", "silent", "unreachable", "none"]


class MetricValueSchema(ma.Schema):
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    value = ma.fields.Raw(required=True, allow_none=True)
    level = ma.fields.String(required=True, metadata={
        "description": "high, low, normal, running, stopped, or empty: no range."})


class EquipmentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    line = ma.fields.Nested(LineRefSchema, required=True, allow_none=True)
    connectivity = ma.fields.String(required=True, metadata={"enum": CONNECTIVITY})
    last_seen_at = ma.fields.DateTime(required=True, allow_none=True)
    reading_ts = ma.fields.DateTime(required=True, allow_none=True, metadata={
        "description": "Device time of the latest stored reading."})
    last_error = ma.fields.String(required=True)
    metrics = ma.fields.List(ma.fields.Nested(MetricValueSchema), required=True)


def equipment_of(machine):
    """The same shape as the socket's `equipment_status_update` (telemetry.live)."""
    return equipment_json(machine)



@bp.get("/equipment", tags=["equipment"])
@token_required()
@bp.arguments(MachineQuery, location="query")
@bp.response(200, page_schema(EquipmentSchema))
def list_equipment(args):
    """Machines with their latest values and connectivity (the seed's /equipment/status)."""
    stmt = machines_matching(args).options(
        selectinload(Machine.state),
        selectinload(Machine.machine_type).selectinload(MachineType.metrics))
    page = paginated(sorted_by(stmt, args["sort"], SORTS), args)
    page["items"] = [equipment_of(m) for m in page["items"]]
    return page



def machine_by_code(code):
    """The machine with this code (any case), or a JSON 404."""
    key = services.normalize_code(code)
    machine = db.session.scalar(select(Machine).where(Machine.code == key)) \
        if "\x00" not in key else None
    if machine is None:
        raise JsonError(404, "not_found", f"No machine with code {code!r}.")
    return machine


@bp.get("/equipment/<string:code>/status", tags=["equipment"])
@token_required()
@bp.response(200, EquipmentSchema)
def equipment_status(code):
    """One machine's live state, by its code."""
    machine = machine_by_code(code)
    if not services.can_see_machine(g.api_user, machine):
        raise JsonError(403, "forbidden", "This machine is not one of yours.")
    return equipment_of(machine)
