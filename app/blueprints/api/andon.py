"""Andon calls (the floor-dashboard seed's /andon/events): list, one call with its history,
raise, acknowledge and resolve, all through andon.services.

Everyone sees the calls of the machines they see; everyone but viewers raises them; the
roles of the call's escalation level answer them (andon.access). Photos are sent on the
machine screen only, for now.
"""

import marshmallow as ma
from flask import g, url_for
from marshmallow import validate

from app.blueprints.andon import services
from app.blueprints.andon.access import RAISERS, can_see_call
from app.blueprints.andon.models import ANDON_KINDS, ANDON_PRIORITIES, ANDON_STATUSES, AndonCall
from app.core.extensions import db

from . import bp
from .errors import JsonError
from .machines import load_machine
from .rows import created, get_visible
from .schemas import (
    HistoryEventSchema,
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

KINDS = [code for code, _ in ANDON_KINDS]
PRIORITIES = [code for code, _ in ANDON_PRIORITIES]
STATUSES = [code for code, _ in ANDON_STATUSES]
SORTS = {"id": AndonCall.id, "raised_at": AndonCall.raised_at, "kind": AndonCall.kind,
         "status": AndonCall.status, "priority": AndonCall.priority,
         "updated_at": AndonCall.updated_at}


class AndonEventSchema(ma.Schema):
    """A call for help (the seed named them events)."""

    id = ma.fields.Integer(required=True)
    machine = ma.fields.Nested(MachineRefSchema, required=True)
    kind = ma.fields.String(required=True, metadata={"enum": KINDS})
    priority = ma.fields.String(required=True, metadata={"enum": PRIORITIES})
    status = ma.fields.String(required=True, metadata={"enum": STATUSES})
    note = ma.fields.String(required=True)
    has_photo = ma.fields.Function(lambda call: bool(call.photo_name), required=True,
                                   metadata={"type": "boolean"})
    raised_by = ma.fields.Nested(PersonSchema, required=True)
    raised_at = ma.fields.DateTime(required=True)
    acknowledged_at = ma.fields.DateTime(required=True, allow_none=True)
    acknowledged_by = ma.fields.Nested(PersonSchema, required=True, allow_none=True)
    resolved_at = ma.fields.DateTime(required=True, allow_none=True)
    resolved_by = ma.fields.Nested(PersonSchema, required=True, allow_none=True)
    resolution_note = ma.fields.String(required=True)
    ack_level = ma.fields.Integer(required=True, metadata={
        "description": "Escalation level reached while unacknowledged (0: none)."})
    resolve_level = ma.fields.Integer(required=True, metadata={
        "description": "Escalation level reached while unresolved (0: none)."})
    updated_at = ma.fields.DateTime(required=True)


class AndonEventDetailSchema(AndonEventSchema):
    events = ma.fields.List(ma.fields.Nested(HistoryEventSchema), required=True, metadata={
        "description": "Its history, oldest first: raised, escalated, acknowledged, resolved."})


class AndonQuery(PageQuery):
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    kind = ma.fields.String(validate=validate.OneOf(KINDS))
    machine = Id(metadata={"description": "Machine id."})
    line = Id(metadata={"description": "Line id."})
    sort = sort_field(SORTS, "-raised_at,-id")


class RaiseInput(ma.Schema):
    machine_id = Id(required=True)
    kind = ma.fields.String(required=True, validate=validate.OneOf(KINDS))
    priority = ma.fields.String(validate=validate.OneOf(PRIORITIES), metadata={
        "description": "Default: the kind's usual (safety critical, stoppage high, "
                       "others medium)."})
    note = Text(load_default="", validate=validate.Length(max=1000))


class ResolveInput(ma.Schema):
    note = Text(load_default="", validate=validate.Length(max=2000),
                metadata={"description": "What was done."})


def load_call(call_id):
    """The call, 404 when there is none, 403 when its machine is not the user's."""
    return get_visible(AndonCall, call_id, "andon call", can_see_call,
                       "This call's machine is not one of yours.")


def _call_url(call):
    return url_for("api.get_andon_event", call_id=call.id)


@bp.get("/andon/events", tags=["andon"])
@token_required()
@bp.arguments(AndonQuery, location="query")
@bp.response(200, page_schema(AndonEventSchema))
def list_andon_events(args):
    """Calls the user may see (operators: their machines'), newest first by default."""
    stmt = services.search_calls(g.api_user, status=args.get("status", ""),
                                 kind=args.get("kind", ""), machine_id=args.get("machine"),
                                 line_id=args.get("line"))
    return paginated(sorted_by(stmt, args["sort"], SORTS), args)


@bp.get("/andon/events/<int:call_id>", tags=["andon"])
@token_required()
@bp.etag
@bp.response(200, AndonEventDetailSchema)
def get_andon_event(call_id):
    """One call with its history."""
    return load_call(call_id)


@bp.post("/andon/events", tags=["andon"])
@token_required(*RAISERS)
@bp.arguments(RaiseInput)
@bp.response(201, AndonEventDetailSchema)
def raise_andon_event(values):
    """Call for help on a machine (everyone but viewers, on machines they see). A second
    active call of the same kind on the machine is 409, with the first one's Location."""
    machine = load_machine(values["machine_id"])
    try:
        call = services.raise_call(g.api_user, machine, values["kind"],
                                   priority=values.get("priority"), note=values["note"])
    except services.DuplicateCall as duplicate:
        raise JsonError(409, "conflict", str(duplicate), fields=duplicate.errors,
                        headers={"Location": _call_url(duplicate.existing)}) from None
    return created(call, "api.get_andon_event", call_id=call.id)


@bp.post("/andon/events/<int:call_id>/acknowledge", tags=["andon"])
@token_required()
@bp.response(200, AndonEventDetailSchema)
def acknowledge_andon_event(call_id):
    """Say help is coming (the roles that answer this call; 422 when answered already)."""
    call = services.acknowledge(g.api_user, load_call(call_id))
    db.session.commit()
    return call


@bp.post("/andon/events/<int:call_id>/resolve", tags=["andon"])
@token_required()
@bp.arguments(ResolveInput)
@bp.response(200, AndonEventDetailSchema)
def resolve_andon_event(values, call_id):
    """Close the call (acknowledging it too if nobody had); a stoppage's downtime ends."""
    call = services.resolve(g.api_user, load_call(call_id), values["note"])
    db.session.commit()
    return call
