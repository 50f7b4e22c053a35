"""Machines: the pattern every API resource follows (docs/api.md "Conventions").

List with filters, sorting and pages; one item with an ETag; create, update (If-Match) and
delete for managers, all through machines.services; an operator sees only its machines.
"""

import marshmallow as ma
from flask import g
from marshmallow import validate
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.blueprints.machines import services
from app.blueprints.machines.models import (
    MACHINE_STATUSES,
    Department,
    Line,
    Machine,
    MachineType,
)
from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import bp
from .rows import changed, created, get_visible
from .schemas import (
    Id,
    PageQuery,
    RefSchema,
    Text,
    page_schema,
    paginated,
    sort_field,
    sorted_by,
)
from .tokens import token_required

STATUSES = [code for code, _ in MACHINE_STATUSES]
SORTS = {"id": Machine.id, "code": Machine.code, "name": Machine.name,
         "status": Machine.status, "created_at": Machine.created_at,
         "updated_at": Machine.updated_at}


class LineRefSchema(RefSchema):
    code = ma.fields.String(required=True)


class MachineSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    machine_type = ma.fields.Nested(RefSchema, required=True)
    department = ma.fields.Nested(LineRefSchema, required=True, allow_none=True)
    line = ma.fields.Nested(LineRefSchema, required=True, allow_none=True)
    location = ma.fields.String(required=True)
    vendor_id = ma.fields.String(required=True, allow_none=True)
    data_url = ma.fields.String(required=True, allow_none=True)
    polling_enabled = ma.fields.Boolean(required=True)
    notes = ma.fields.String(required=True)
    operator_ids = ma.fields.Pluck(RefSchema, "id", many=True, attribute="operators",
                                   required=True, metadata={
                                       "description": "Operators assigned directly "
                                                      "(not through the line)."})
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class MachineInput(ma.Schema):
    code = Text(required=True, validate=validate.Length(max=32))
    name = Text(required=True, validate=validate.Length(max=120))
    machine_type_id = Id(required=True)
    department_id = Id(allow_none=True)
    line_id = Id(allow_none=True)
    location = Text(validate=validate.Length(max=120))
    vendor_id = Text(allow_none=True, validate=validate.Length(max=120))
    data_url = Text(allow_none=True, validate=validate.Length(max=500))
    polling_enabled = ma.fields.Boolean()
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    notes = Text(validate=validate.Length(max=4000))
    operator_ids = ma.fields.List(Id())


class MachineChanges(MachineInput):
    """The fields to change (PATCH); the others keep their values."""


class MachineQuery(PageQuery):
    q = Text(validate=validate.Length(max=100), metadata={
        "description": "Text in the code, name or vendor id."})
    line = Id(metadata={"description": "Line id."})
    department = Id(metadata={"description": "Department id."})
    type = Id(metadata={"description": "Machine type id."})
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    sort = sort_field(SORTS, "code")


NEW_MACHINE = {"department_id": None, "line_id": None, "location": "", "vendor_id": None,
               "data_url": None, "polling_enabled": False, "status": "active", "notes": "",
               "operator_ids": []}


def load_machine(machine_id):
    """The machine, 404 when there is none, 403 when the user may not see it (as pages)."""
    return get_visible(Machine, machine_id, "machine", services.can_see_machine,
                       "This machine is not one of yours.")


def existing(model, ident, field):
    if ident is None:
        return None
    row = db.session.get(model, ident)
    if row is None:
        raise ValidationFailed({field: f"Nothing with id {ident}."})
    return row


def _operators(ids):
    people = [db.session.get(User, i) for i in ids]
    missing = [str(i) for i, user in zip(ids, people, strict=True) if user is None]
    if missing:
        raise ValidationFailed({"operator_ids": f"No user with id {', '.join(missing)}."})
    return people


def _values_of(machine):
    return {"code": machine.code, "name": machine.name,
            "machine_type_id": machine.machine_type_id,
            "department_id": machine.department_id, "line_id": machine.line_id,
            "location": machine.location, "vendor_id": machine.vendor_id,
            "data_url": machine.data_url, "polling_enabled": machine.polling_enabled,
            "status": machine.status, "notes": machine.notes,
            "operator_ids": [u.id for u in machine.operators]}


def _save(machine, values):
    services.save_machine(
        machine, code=values["code"], name=values["name"],
        machine_type=existing(MachineType, values["machine_type_id"], "machine_type_id"),
        department=existing(Department, values["department_id"], "department_id"),
        line=existing(Line, values["line_id"], "line_id"),
        vendor_id=values["vendor_id"], data_url=values["data_url"],
        polling_enabled=values["polling_enabled"], status=values["status"],
        location=values["location"], notes=values["notes"])
    services.set_machine_operators(machine, _operators(values["operator_ids"]))


@bp.get("/machines", tags=["machines"])
@token_required()
@bp.arguments(MachineQuery, location="query")
@bp.response(200, page_schema(MachineSchema))
def list_machines(args):
    """Machines the user may see (an operator: its own), filtered, sorted, a page at a time."""
    stmt = machines_matching(args).options(selectinload(Machine.operators))
    return paginated(sorted_by(stmt, args["sort"], SORTS), args)


def machines_matching(args):
    """The machines the token's user may see that pass the list's filters (MachineQuery)."""
    return services.search_machines(
        g.api_user, query=args.get("q", ""), line_id=args.get("line"),
        department_id=args.get("department"), type_id=args.get("type"),
        status=args.get("status", ""))


@bp.post("/machines", tags=["machines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(MachineInput)
@bp.response(201, MachineSchema)
def create_machine(values):
    """Add a machine (managers)."""
    machine = Machine()
    _save(machine, {**NEW_MACHINE, **values})
    return created(machine, "api.get_machine", machine_id=machine.id)


@bp.get("/machines/<int:machine_id>", tags=["machines"])
@token_required()
@bp.etag
@bp.response(200, MachineSchema)
def get_machine(machine_id):
    """One machine; its ETag goes into If-Match when changing it."""
    return load_machine(machine_id)


@bp.patch("/machines/<int:machine_id>", tags=["machines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(MachineChanges(partial=True))
@bp.response(200, MachineSchema)
def update_machine(changes, machine_id):
    """Change some fields of a machine (managers; If-Match required)."""
    return changed(load_machine(machine_id), MachineSchema,
                   lambda machine: _save(machine, {**_values_of(machine), **changes}))


@bp.delete("/machines/<int:machine_id>", tags=["machines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(204)
def delete_machine(machine_id):
    """Delete a machine that never reported (managers; If-Match required)."""
    changed(load_machine(machine_id), MachineSchema, services.delete_machine)
