"""Alert rules: read by whoever reads alerts, changed by managers, all through
alerts.rules, whose checks (which know the metric) give the 422 messages.
"""

import marshmallow as ma
from flask import g
from marshmallow import validate

from app.blueprints.alerts import rules
from app.blueprints.alerts.access import ALERT_READERS
from app.blueprints.alerts.models import AlertRule
from app.blueprints.auth import roles
from app.blueprints.machines.models import Machine, MachineType

from . import bp
from .machines import existing
from .rows import changed, created, get_visible
from .schemas import (
    Id,
    MachineRefSchema,
    PageQuery,
    RefSchema,
    Text,
    page_schema,
    paginated,
    sort_field,
    sorted_by,
)
from .tokens import token_required

SORTS = {"id": AlertRule.id, "name": AlertRule.name, "kind": AlertRule.kind,
         "severity": AlertRule.severity, "enabled": AlertRule.enabled,
         "created_at": AlertRule.created_at, "updated_at": AlertRule.updated_at}
THRESHOLD_TYPES = ["string", "number", "boolean"]  # allow_none adds "null"


class Threshold(ma.fields.Field):
    """A number, true/false or a text, handed to the rules service as the form's text."""

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | str):
            return Text()._deserialize(str(value), attr, data)
        raise ma.ValidationError("Give a number, true/false or a text.")


class AlertRuleSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    description = ma.fields.Function(rules.describe, required=True, metadata={
        "description": "The rule in one line, as the rules page shows it."})
    machine_type = ma.fields.Nested(RefSchema, required=True, allow_none=True)
    machine = ma.fields.Nested(MachineRefSchema, required=True, allow_none=True)
    metric_key = ma.fields.String(required=True, allow_none=True)
    condition = ma.fields.String(required=True, allow_none=True)
    threshold = ma.fields.Raw(required=True, allow_none=True,
                              metadata={"type": THRESHOLD_TYPES})
    sustained_seconds = ma.fields.Integer(required=True)
    offline_intervals = ma.fields.Integer(required=True, allow_none=True)
    severity = ma.fields.String(required=True)
    message_template = ma.fields.String(required=True)
    create_task = ma.fields.Boolean(required=True)
    enabled = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class AlertRuleInput(ma.Schema):
    name = Text(required=True, validate=validate.Length(max=120))
    kind = Text(metadata={"description": "threshold (default), battery, sensor_fault or "
                                         "offline."})
    machine_type_id = Id(allow_none=True, metadata={
        "description": "Every machine of this type (or give machine_id)."})
    machine_id = Id(allow_none=True, metadata={"description": "Only this machine."})
    metric_key = Text(allow_none=True, validate=validate.Length(max=64))
    condition = Text(allow_none=True, metadata={
        "description": ">, >=, <, <=, =, != or outside (its normal range)."})
    threshold = Threshold(allow_none=True, metadata={"type": THRESHOLD_TYPES})
    sustained_seconds = ma.fields.Integer(validate=validate.Range(
        0, 86_400, error="Between 0 and 86400 seconds."))
    offline_intervals = ma.fields.Integer(allow_none=True, validate=validate.Range(
        1, 10_000, error="At least 1 poll interval."))
    severity = Text(metadata={"description": "info, warning (default) or critical."})
    message_template = Text(validate=validate.Length(max=300))
    create_task = ma.fields.Boolean()
    enabled = ma.fields.Boolean()


class AlertRuleChanges(AlertRuleInput):
    """The fields to change (PATCH); the others keep their values."""


class AlertRuleQuery(PageQuery):
    sort = sort_field(SORTS, "-enabled,name,id")


NEW_RULE = {"kind": "threshold", "machine_type_id": None, "machine_id": None,
            "metric_key": None, "condition": None, "threshold": "", "sustained_seconds": 0,
            "offline_intervals": None, "severity": "warning", "message_template": "",
            "create_task": False, "enabled": True}


def load_rule(rule_id):
    return get_visible(AlertRule, rule_id, "alert rule")


def _values_of(rule):
    threshold = rule.threshold
    return {"name": rule.name, "kind": rule.kind, "machine_type_id": rule.machine_type_id,
            "machine_id": rule.machine_id, "metric_key": rule.metric_key,
            "condition": rule.condition,
            "threshold": "" if threshold is None else rules.format_value(threshold),
            "sustained_seconds": rule.sustained_seconds,
            "offline_intervals": rule.offline_intervals, "severity": rule.severity,
            "message_template": rule.message_template, "create_task": rule.create_task,
            "enabled": rule.enabled}


def _save(rule, values):
    rules.save_rule(
        rule, actor=g.api_user, name=values["name"], kind=values["kind"],
        machine_type=existing(MachineType, values["machine_type_id"], "machine_type_id"),
        machine=existing(Machine, values["machine_id"], "machine_id"),
        metric_key=values["metric_key"], condition=values["condition"],
        threshold=values["threshold"], sustained_seconds=values["sustained_seconds"],
        offline_intervals=values["offline_intervals"], severity=values["severity"],
        template=values["message_template"], create_task=values["create_task"],
        enabled=values["enabled"])


@bp.get("/alert-rules", tags=["alert-rules"])
@token_required(*ALERT_READERS)
@bp.arguments(AlertRuleQuery, location="query")
@bp.response(200, page_schema(AlertRuleSchema))
def list_alert_rules(args):
    """Every rule, the enabled first (managers and operators, as the rules page)."""
    return paginated(sorted_by(rules.rules_listed(), args["sort"], SORTS), args)


@bp.post("/alert-rules", tags=["alert-rules"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(AlertRuleInput)
@bp.response(201, AlertRuleSchema)
def create_alert_rule(values):
    """Add a rule (managers)."""
    rule = AlertRule()
    _save(rule, {**NEW_RULE, **values})
    return created(rule, "api.get_alert_rule", rule_id=rule.id)


@bp.get("/alert-rules/<int:rule_id>", tags=["alert-rules"])
@token_required(*ALERT_READERS)
@bp.etag
@bp.response(200, AlertRuleSchema)
def get_alert_rule(rule_id):
    """One rule; its ETag goes into If-Match when changing it."""
    return load_rule(rule_id)


@bp.patch("/alert-rules/<int:rule_id>", tags=["alert-rules"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(AlertRuleChanges(partial=True))
@bp.response(200, AlertRuleSchema)
def update_alert_rule(changes, rule_id):
    """Change some fields of a rule (managers; If-Match required). A rule that is switched
    off raises nothing new; its timing starts afresh after any change."""
    return changed(load_rule(rule_id), AlertRuleSchema,
                   lambda rule: _save(rule, {**_values_of(rule), **changes}))


@bp.delete("/alert-rules/<int:rule_id>", tags=["alert-rules"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(204)
def delete_alert_rule(rule_id):
    """Delete a rule that never raised an alert (managers; If-Match required); one that
    did keeps their history: disable it instead (PATCH enabled=false)."""
    changed(load_rule(rule_id), AlertRuleSchema, rules.delete_rule)
