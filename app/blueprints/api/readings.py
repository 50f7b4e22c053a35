"""Readings (also as /data, the equipment-api seed's name): stored readings of a machine
over a time range, one reading with its corrections, new readings through the same ingest
as the webhook, and an admin's correction or deletion, each recorded (telemetry.stored).

A reading's id is `<machine id>-<device time in µs since 1970>`: the table's own key
(machine, device time), so a lookup reads one index entry of one monthly partition.
"""

from datetime import UTC

import marshmallow as ma
from flask import g
from marshmallow import validate

from app.blueprints.auth import roles
from app.blueprints.telemetry import ingest as telemetry
from app.blueprints.telemetry import stored
from app.blueprints.telemetry.models import Reading
from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import bp
from .errors import JsonError
from .machines import load_machine
from .rows import changed, created
from .schemas import (
    Id,
    PageQuery,
    PersonSchema,
    Text,
    page_schema,
    paginated,
    sort_field,
    sorted_by,
)
from .tokens import token_required

SORTS = {"ts": Reading.ts}
WRITERS = roles.MANAGERS
API_SOURCE = "api"


class ReadingSchema(ma.Schema):
    id = ma.fields.String(required=True, metadata={
        "description": "<machine id>-<device time in microseconds since 1970 (UTC)>."})
    machine_id = ma.fields.Integer(required=True)
    ts = ma.fields.DateTime(required=True, metadata={"description": "Device time."})
    received_at = ma.fields.DateTime(required=True)
    source = ma.fields.String(required=True, metadata={
        "description": "webhook, batch, poll, mqtt or api."})
    values = ma.fields.Dict(keys=ma.fields.String(), required=True, metadata={
        "description": "Metric key → number, true/false or text (the machine type's)."})


READING_PAGE = page_schema(ReadingSchema)


class CorrectionSchema(ma.Schema):
    action = ma.fields.String(required=True, metadata={"enum": ["corrected", "deleted"]})
    before = ma.fields.Dict(keys=ma.fields.String(), required=True)
    after = ma.fields.Dict(keys=ma.fields.String(), required=True, allow_none=True)
    reason = ma.fields.String(required=True)
    actor = ma.fields.Nested(PersonSchema, required=True)
    at = ma.fields.DateTime(required=True)


class ReadingDetailSchema(ReadingSchema):
    corrections = ma.fields.List(ma.fields.Nested(CorrectionSchema), required=True, metadata={
        "description": "Every correction of this reading, oldest first."})


class ReadingQuery(PageQuery):
    machine = Id(required=True, metadata={
        "description": "Machine id (required: readings are listed one machine at a time)."})
    start = ma.fields.AwareDateTime(data_key="from", default_timezone=UTC, metadata={
        "description": "Device time on or after this (ISO 8601; UTC when no offset)."})
    end = ma.fields.AwareDateTime(data_key="to", default_timezone=UTC, metadata={
        "description": "Device time before this (ISO 8601; UTC when no offset)."})
    sort = sort_field(SORTS, "-ts")

    @ma.validates_schema
    def _range_in_order(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["start"] >= data["end"]:
            raise ma.ValidationError("“from” must be before “to”.", "from")


class ReadingInput(ma.Schema):
    machine_id = Id(required=True)
    ts = Text(required=True, validate=validate.Length(max=64), metadata={
        "description": "Device time, ISO 8601 (UTC when no offset); at most 5 min ahead."})
    values = ma.fields.Dict(keys=Text(validate=validate.Length(max=64)), required=True,
                            metadata={"description": "Metric key → value, as the webhook."})


class IngestOutcomeSchema(ma.Schema):
    outcome = ma.fields.String(required=True, metadata={
        "enum": ["stored", "unchanged", "duplicate"],
        "description": "stored (201); unchanged: the same values as the latest, so not "
                       "stored (change-only storage); duplicate: stored before (200)."})
    reading = ma.fields.Nested(ReadingSchema, required=True, allow_none=True)


class CorrectionInput(ma.Schema):
    values = ma.fields.Dict(keys=Text(validate=validate.Length(max=64)), required=True,
                            metadata={"description": "The reading's new values (all)."})
    reason = Text(required=True, validate=validate.Length(max=stored.REASON_MAX))


class DeleteQuery(ma.Schema):
    reason = Text(required=True, validate=validate.Length(max=stored.REASON_MAX), metadata={
        "description": "Why the reading goes; recorded with its values."})


def as_item(reading):
    return {"id": stored.reading_key(reading.machine_id, reading.ts),
            "machine_id": reading.machine_id, "ts": reading.ts,
            "received_at": reading.received_at, "source": reading.source,
            "values": reading.values}


def as_detail(reading):
    return {**as_item(reading), "corrections": [
        {"action": c.action, "before": c.before, "after": c.after, "reason": c.reason,
         "actor": c.actor, "at": c.at}
        for c in stored.corrections_of(reading.machine_id, reading.ts)]}


def load_reading(reading_id):
    """The reading, 404 when there is none, 403 when its machine is not the user's."""
    key = stored.parse_reading_key(reading_id)
    reading = stored.find_reading(*key) if key else None
    if reading is None:
        raise JsonError(404, "not_found", f"No reading with id {reading_id!r}.")
    load_machine(reading.machine_id)
    return reading


def list_page(args):
    machine = load_machine(args["machine"])
    stmt = stored.readings_between([machine.id], args.get("start"), args.get("end"))
    page = paginated(sorted_by(stmt, args["sort"], SORTS), args)
    page["items"] = [as_item(r) for r in page["items"]]
    return page


def _rejection_fields(reasons):
    fields = {}
    for reason in reasons:
        field = "ts" if reason.startswith("ts") else "values"
        fields[field] = f"{fields[field]}; {reason}" if field in fields else reason
    return fields


def ingest_one(values):
    """One reading through telemetry's ingest, the webhook's rules; 201 when stored."""
    machine = load_machine(values["machine_id"])
    result = telemetry.ingest([{"ts": values["ts"], "values": values["values"]}],
                              source=API_SOURCE, machine=machine)
    if result.rejected:
        raise ValidationFailed(_rejection_fields(result.rejected[0]["reasons"]))
    ts = telemetry.parse_ts(values["ts"])
    reading = stored.find_reading(machine.id, ts)
    if result.stored:
        key = stored.reading_key(machine.id, ts)
        return created({"outcome": "stored", "reading": as_item(reading)},
                       "api.get_reading", reading_id=key)
    outcome = "duplicate" if result.duplicates else "unchanged"
    db.session.commit()  # "last seen" moved: the machine reported
    return {"outcome": outcome, "reading": as_item(reading) if reading else None}, 200


def correct(values, reading_id):
    reading = load_reading(reading_id)
    changed(as_detail(reading), ReadingDetailSchema, lambda _: stored.correct_reading(
        g.api_user, reading, values["values"], values["reason"]))
    return as_detail(reading)


def remove(args, reading_id):
    reading = load_reading(reading_id)
    changed(as_detail(reading), ReadingDetailSchema,
            lambda _: stored.delete_reading(g.api_user, reading, args["reason"]))


# --- /readings --------------------------------------------------------------------------

@bp.get("/readings", tags=["readings"])
@token_required()
@bp.arguments(ReadingQuery, location="query")
@bp.response(200, READING_PAGE)
def list_readings(args):
    """One machine's stored readings over a time range (newest first by default)."""
    return list_page(args)


@bp.post("/readings", tags=["readings"])
@token_required(*WRITERS)
@bp.arguments(ReadingInput)
@bp.response(201, IngestOutcomeSchema)
@bp.alt_response(200, schema=IngestOutcomeSchema, description="Not stored: unchanged or "
                                                              "a duplicate.")
def create_reading(values):
    """A reading through the webhook's rules (managers); 422 says what does not fit."""
    return ingest_one(values)


@bp.get("/readings/<string:reading_id>", tags=["readings"])
@token_required()
@bp.etag
@bp.response(200, ReadingDetailSchema)
def get_reading(reading_id):
    """One stored reading with its corrections."""
    return as_detail(load_reading(reading_id))


@bp.route("/readings/<string:reading_id>", methods=["PUT", "PATCH"], tags=["readings"])
@token_required(roles.ADMIN)
@bp.etag
@bp.arguments(CorrectionInput)
@bp.response(200, ReadingDetailSchema)
def correct_reading(values, reading_id):
    """Correct a stored reading's values (admins; If-Match; a reason is recorded)."""
    return correct(values, reading_id)


@bp.delete("/readings/<string:reading_id>", tags=["readings"])
@token_required(roles.ADMIN)
@bp.etag
@bp.arguments(DeleteQuery, location="query")
@bp.response(204)
def delete_reading(args, reading_id):
    """Delete a stored reading (admins; If-Match; `reason`); its values stay recorded."""
    remove(args, reading_id)


# --- /data: the equipment-api seed's name for the same ----------------------------------

@bp.get("/data", tags=["readings"])
@token_required()
@bp.arguments(ReadingQuery, location="query")
@bp.response(200, READING_PAGE)
def list_data(args):
    """As GET /readings."""
    return list_page(args)


@bp.post("/data", tags=["readings"])
@token_required(*WRITERS)
@bp.arguments(ReadingInput)
@bp.response(201, IngestOutcomeSchema)
@bp.alt_response(200, schema=IngestOutcomeSchema, description="Not stored: unchanged or "
                                                              "a duplicate.")
def create_data(values):
    """As POST /readings."""
    return ingest_one(values)


@bp.get("/data/<string:reading_id>", tags=["readings"])
@token_required()
@bp.etag
@bp.response(200, ReadingDetailSchema)
def get_data(reading_id):
    """As GET /readings/{id}."""
    return as_detail(load_reading(reading_id))


@bp.route("/data/<string:reading_id>", methods=["PUT", "PATCH"], tags=["readings"])
@token_required(roles.ADMIN)
@bp.etag
@bp.arguments(CorrectionInput)
@bp.response(200, ReadingDetailSchema)
def correct_data(values, reading_id):
    """As PUT/PATCH /readings/{id}."""
    return correct(values, reading_id)


@bp.delete("/data/<string:reading_id>", tags=["readings"])
@token_required(roles.ADMIN)
@bp.etag
@bp.arguments(DeleteQuery, location="query")
@bp.response(204)
def delete_data(args, reading_id):
    """As DELETE /readings/{id}."""
    remove(args, reading_id)
