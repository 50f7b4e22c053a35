"""Machine types with their metrics, through machines.services as the setup pages: everyone
but operators reads them, managers add, change and delete (a type machines still use: 409).

A type's metrics are what its machines report (ingest checks readings against them), so
they are managed under the type: /machine-types/{id}/metrics.
"""

import marshmallow as ma
from marshmallow import validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.machines import services
from app.blueprints.machines.models import METRIC_KINDS, METRIC_ROLES, MachineType, Metric
from app.core.extensions import db
from app.core.models import contains_text

from . import bp
from .errors import JsonError
from .rows import changed, created, get_visible
from .schemas import PageQuery, Text, page_schema, paginated, sort_field, sorted_by, valid_id
from .tokens import token_required

READERS = roles.PLANT_WIDE
SORTS = {"id": MachineType.id, "name": MachineType.name,
         "created_at": MachineType.created_at, "updated_at": MachineType.updated_at}
ROLE_CODES = [code for code, _ in METRIC_ROLES]


class MetricSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    key = ma.fields.String(required=True)
    label = ma.fields.String(required=True)
    unit = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": list(METRIC_KINDS)})
    normal_min = ma.fields.Float(required=True, allow_none=True)
    normal_max = ma.fields.Float(required=True, allow_none=True)
    role = ma.fields.String(required=True, allow_none=True, metadata={
        "enum": [*ROLE_CODES, None],
        "description": "battery, part_counter or running: a meaning Floorline relies on."})
    position = ma.fields.Integer(required=True)


class MachineTypeSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    metrics = ma.fields.List(ma.fields.Nested(MetricSchema), required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class MachineTypeInput(ma.Schema):
    name = Text(required=True, validate=validate.Length(max=120))
    description = Text(validate=validate.Length(max=2000))


class MachineTypeChanges(MachineTypeInput):
    """The fields to change; the others keep their values."""


class MetricInput(ma.Schema):
    key = Text(required=True, validate=validate.Length(max=64))
    label = Text(validate=validate.Length(max=120))
    unit = Text(validate=validate.Length(max=32))
    kind = ma.fields.String(validate=validate.OneOf(METRIC_KINDS))
    normal_min = ma.fields.Float(allow_none=True, allow_nan=False)
    normal_max = ma.fields.Float(allow_none=True, allow_nan=False)
    role = ma.fields.String(allow_none=True, validate=validate.OneOf(ROLE_CODES))


class MetricChanges(MetricInput):
    """The fields to change; the others keep their values."""


class MachineTypeQuery(PageQuery):
    q = Text(validate=validate.Length(max=100), metadata={"description": "Text in the name."})
    sort = sort_field(SORTS, "name")


NEW_METRIC = {"label": "", "unit": "", "kind": "number", "normal_min": None,
              "normal_max": None, "role": None}


def load_type(type_id):
    return get_visible(MachineType, type_id, "machine type")


def load_metric(type_id, metric_id):
    machine_type = load_type(type_id)
    metric = db.session.get(Metric, metric_id) if valid_id(metric_id) else None
    if metric is None or metric.machine_type_id != machine_type.id:
        raise JsonError(404, "not_found", f"{machine_type.name} has no metric {metric_id}.")
    return machine_type, metric


@bp.get("/machine-types", tags=["machine types"])
@token_required(*READERS)
@bp.arguments(MachineTypeQuery, location="query")
@bp.response(200, page_schema(MachineTypeSchema))
def list_machine_types(args):
    """Machine types with their metrics."""
    stmt = select(MachineType).options(selectinload(MachineType.metrics))
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], MachineType.name))
    return paginated(sorted_by(stmt, args["sort"], SORTS), args)


@bp.post("/machine-types", tags=["machine types"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(MachineTypeInput)
@bp.response(201, MachineTypeSchema)
def create_machine_type(values):
    """Add a machine type (managers); then its metrics."""
    machine_type = services.save_machine_type(MachineType(), values["name"],
                                              values.get("description", ""))
    return created(machine_type, "api.get_machine_type", type_id=machine_type.id)


@bp.get("/machine-types/<int:type_id>", tags=["machine types"])
@token_required(*READERS)
@bp.etag
@bp.response(200, MachineTypeSchema)
def get_machine_type(type_id):
    """One machine type with its metrics."""
    return load_type(type_id)


@bp.patch("/machine-types/<int:type_id>", tags=["machine types"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(MachineTypeChanges(partial=True))
@bp.response(200, MachineTypeSchema)
def update_machine_type(changes, type_id):
    """Rename or describe a type (managers; If-Match)."""
    return changed(load_type(type_id), MachineTypeSchema, lambda t: services.save_machine_type(
        t, changes.get("name", t.name), changes.get("description", t.description)))


@bp.delete("/machine-types/<int:type_id>", tags=["machine types"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(204)
def delete_machine_type(type_id):
    """Delete a type no machine uses (managers; If-Match); else 409."""
    changed(load_type(type_id), MachineTypeSchema, services.delete_machine_type)


def _save_metric(machine_type, metric, values):
    services.save_metric(machine_type, metric, values["key"], values["label"],
                         values["unit"], values["kind"], values["normal_min"],
                         values["normal_max"], values["role"])


def _metric_values(metric):
    return {"key": metric.key, "label": metric.label, "unit": metric.unit,
            "kind": metric.kind, "normal_min": metric.normal_min,
            "normal_max": metric.normal_max, "role": metric.role}


@bp.post("/machine-types/<int:type_id>/metrics", tags=["machine types"])
@token_required(*roles.MANAGERS)
@bp.arguments(MetricInput)
@bp.response(201, MachineTypeSchema)
def add_metric(values, type_id):
    """Add a metric to a type (managers): the type with it."""
    machine_type = load_type(type_id)
    _save_metric(machine_type, Metric(), {**NEW_METRIC, **values})
    return created(machine_type, "api.get_machine_type", type_id=machine_type.id)


@bp.patch("/machine-types/<int:type_id>/metrics/<int:metric_id>", tags=["machine types"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(MetricChanges(partial=True))
@bp.response(200, MachineTypeSchema)
def update_metric(changes, type_id, metric_id):
    """Change a metric (managers; If-Match: the type's ETag)."""
    machine_type, metric = load_metric(type_id, metric_id)
    return changed(machine_type, MachineTypeSchema, lambda t: _save_metric(
        t, metric, {**_metric_values(metric), **changes}))


@bp.delete("/machine-types/<int:type_id>/metrics/<int:metric_id>", tags=["machine types"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(204)
def delete_metric(type_id, metric_id):
    """Remove a metric (managers; If-Match: the type's ETag). Stored readings keep their
    values; new readings with that key are refused."""
    machine_type, metric = load_metric(type_id, metric_id)
    changed(machine_type, MachineTypeSchema, lambda _: services.delete_metric(metric))
