"""Alerts: the list with the page's filters, one alert with its history, and what people
do with it (acknowledge, comment, close), all through alerts.alert_services.

Managers see every alert, operators those of their machines, nobody else any (as the
pages); closing is for managers.
"""

import marshmallow as ma
from flask import g
from marshmallow import validate

from app.blueprints.alerts import alert_services
from app.blueprints.alerts.access import ALERT_READERS, can_see_alert
from app.blueprints.alerts.models import ALERT_STATES, SEVERITIES, Alert
from app.blueprints.auth import roles
from app.core.extensions import db

from . import bp
from .rows import created, get_visible
from .schemas import (
    HistoryEventSchema,
    Id,
    MachineRefSchema,
    PageQuery,
    PersonSchema,
    RefSchema,
    Text,
    page_schema,
    paginated,
    sort_field,
    sorted_by,
)
from .tokens import token_required

STATES = [code for code, _ in alert_services.STATE_FILTERS]
SEVERITY_CODES = [code for code, _ in SEVERITIES]
SORTS = {"id": Alert.id, "raised_at": Alert.raised_at, "severity": Alert.severity,
         "state": Alert.state, "updated_at": Alert.updated_at}


class AlertSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    rule = ma.fields.Nested(RefSchema, required=True)
    machine = ma.fields.Nested(MachineRefSchema, required=True)
    severity = ma.fields.String(required=True, metadata={"enum": SEVERITY_CODES})
    message = ma.fields.String(required=True)
    value = ma.fields.Raw(required=True, allow_none=True, metadata={
        "description": "The reading that raised it: a number, true/false or a text."})
    state = ma.fields.String(required=True, metadata={
        "enum": [code for code, _ in ALERT_STATES],
        "description": "active: the condition holds; cleared: it no longer does."})
    is_open = ma.fields.Boolean(required=True, metadata={"description": "Not closed yet."})
    raised_at = ma.fields.DateTime(required=True)
    cleared_at = ma.fields.DateTime(required=True, allow_none=True)
    acknowledged_at = ma.fields.DateTime(required=True, allow_none=True)
    acknowledged_by = ma.fields.Nested(PersonSchema, required=True, allow_none=True)
    closed_at = ma.fields.DateTime(required=True, allow_none=True)
    closed_by = ma.fields.Nested(PersonSchema, required=True, allow_none=True)
    close_note = ma.fields.String(required=True)
    updated_at = ma.fields.DateTime(required=True)


class AlertDetailSchema(AlertSchema):
    events = ma.fields.List(ma.fields.Nested(HistoryEventSchema), required=True, metadata={
        "description": "Its history, oldest first."})


class AlertQuery(PageQuery):
    state = ma.fields.String(load_default="open", validate=validate.OneOf(STATES),
                             metadata={"description": "open (default), active, cleared, "
                                                      "unacknowledged, closed or all."})
    severity = ma.fields.String(validate=validate.OneOf(SEVERITY_CODES))
    machine = Id(metadata={"description": "Machine id."})
    line = Id(metadata={"description": "Line id."})
    date_from = ma.fields.Date(data_key="from", metadata={
        "description": "Raised on or after this day (UTC)."})
    date_to = ma.fields.Date(data_key="to", metadata={
        "description": "Raised on or before this day (UTC)."})
    sort = sort_field(SORTS, "-raised_at,-id")

    @ma.validates_schema
    def _days_in_order(self, data, **kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ma.ValidationError("“From” is after “to”: nothing can match; swap them.",
                                     "from")


class CommentInput(ma.Schema):
    text = Text(required=True)


class CloseInput(ma.Schema):
    note = Text(load_default="", validate=validate.Length(max=2000))


def load_alert(alert_id):
    """The alert, 404 when there is none, 403 when the user may not see it (as pages)."""
    return get_visible(Alert, alert_id, "alert", can_see_alert,
                       "This alert's machine is not one of yours.")


@bp.get("/alerts", tags=["alerts"])
@token_required(*ALERT_READERS)
@bp.arguments(AlertQuery, location="query")
@bp.response(200, page_schema(AlertSchema))
def list_alerts(args):
    """Alerts the user may see (managers: all; operators: their machines'), filtered as on
    the page (open ones by default), sorted, a page at a time."""
    filters = alert_services.AlertFilters(
        state=args["state"], severity=args.get("severity", ""),
        machine_id=args.get("machine"), line_id=args.get("line"),
        date_from=args.get("date_from"), date_to=args.get("date_to"))
    stmt = alert_services.search_alerts(g.api_user, filters)
    return paginated(sorted_by(stmt, args["sort"], SORTS), args)


@bp.get("/alerts/<int:alert_id>", tags=["alerts"])
@token_required(*ALERT_READERS)
@bp.etag
@bp.response(200, AlertDetailSchema)
def get_alert(alert_id):
    """One alert with its history."""
    return load_alert(alert_id)


@bp.post("/alerts/<int:alert_id>/acknowledge", tags=["alerts"])
@token_required(*ALERT_READERS)
@bp.response(200, AlertDetailSchema)
def acknowledge_alert(alert_id):
    """Say someone is on it (once; 422 when already acknowledged or closed)."""
    alert = alert_services.acknowledge_alert(load_alert(alert_id), g.api_user)
    db.session.commit()
    return alert


@bp.post("/alerts/<int:alert_id>/comments", tags=["alerts"])
@token_required(*ALERT_READERS)
@bp.arguments(CommentInput)
@bp.response(201, AlertDetailSchema)
def comment_on_alert(values, alert_id):
    """Add a comment to the alert's history."""
    alert = alert_services.comment_on_alert(load_alert(alert_id), g.api_user, values["text"])
    return created(alert, "api.get_alert", alert_id=alert.id)


@bp.post("/alerts/<int:alert_id>/close", tags=["alerts"])
@token_required(*roles.MANAGERS)
@bp.arguments(CloseInput)
@bp.response(200, AlertDetailSchema)
def close_alert(values, alert_id):
    """Mark the alert done (managers); a later problem opens a new alert."""
    alert = alert_services.close_alert(load_alert(alert_id), g.api_user, values["note"])
    db.session.commit()
    return alert
