"""Alert rules: checking and saving them, and the per-process cache the ingest path reads.

The cache holds plain snapshots of the enabled rules, built at one version of
`registry_versions` 'alert_rules', which a database trigger moves to a new, never reused
value on every write to the rules (see the migration). Each batch compares it: the ingest
statement has usually read it already (`version_seen`), else one small query does. When it
differs, every rule is loaded again. So an edit made by any process reaches every other
process on its next batch, and nothing depends on Redis.
"""

import string
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

from app.blueprints.machines.lookup import current_version, version_seen
from app.blueprints.machines.models import Machine, MachineType
from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.models import utcnow

from .models import CONDITIONS, RULE_KINDS, SEVERITIES, Alert, AlertCondition, AlertRule

PLACEHOLDERS = ("machine", "metric", "value", "unit", "threshold", "rule", "severity")
DEFAULT_TEMPLATES = {
    "threshold": "{machine}: {metric} is {value}{unit} ({rule})",
    "battery": "{machine}: battery low at {value}{unit} (below {threshold}{unit})",
    "sensor_fault": "{machine}: sensor fault reported ({metric})",
    "offline": "{machine} has not reported for {value}",
}
NUMBER_CONDITIONS = tuple(c for c, _ in CONDITIONS)
EQUALITY_CONDITIONS = ("=", "!=")


# --- checking a rule ----------------------------------------------------------------------

def template_problem(template):
    """A message for a template Python could not fill in, or None when it is fine."""
    try:
        parts = list(string.Formatter().parse(template or ""))
    except ValueError:
        return "Braces must come in pairs: write {machine}, or {{ for a literal brace."
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
            return f"Unknown placeholder {{{name}}}. Use {allowed}."
        if spec or conversion:
            return f"Write {{{name}}} without a format or conversion."
    return None


def scope_type(machine_type, machine):
    """The type whose metrics a rule may name: the one machine's type, or the scope's."""
    return machine.machine_type if machine is not None else machine_type


def _parse_threshold(metric, condition, raw):
    """The threshold as the metric's kind (number, true/false, text), or a message."""
    raw = (raw or "").strip() if isinstance(raw, str) else raw
    if condition == "outside":
        if metric.kind != "number" or (metric.normal_min is None and metric.normal_max is None):
            return None, (f"“Outside its normal range” needs a normal range on "
                          f"{metric.label}; set one on the machine type or pick another "
                          "condition.")
        return None, None
    if raw in ("", None):
        return None, "Give a threshold to compare with."
    if metric.kind == "number":
        try:
            value = float(raw)
        except (TypeError, ValueError):
            return None, f"{metric.label} is a number: give a number, e.g. 70 or 2.5."
        return (int(value) if value.is_integer() else value), None
    if metric.kind == "boolean":
        if condition not in EQUALITY_CONDITIONS:
            return None, f"{metric.label} is true/false: use “equal to” or “not equal to”."
        word = str(raw).lower()
        if word not in ("true", "false", "yes", "no", "1", "0", "on", "off"):
            return None, f"{metric.label} is true/false: give true or false."
        return word in ("true", "yes", "1", "on"), None
    if condition not in EQUALITY_CONDITIONS:
        return None, f"{metric.label} is a text: use “equal to” or “not equal to”."
    return str(raw), None


def _threshold_rule(fields, metric, errors):
    if fields["condition"] not in NUMBER_CONDITIONS:
        errors["condition"] = "Choose a condition from the list."
        return
    value, problem = _parse_threshold(metric, fields["condition"], fields["threshold"])
    if problem:
        errors["threshold"] = problem
    fields["threshold"] = value


def _battery_rule(fields, types, errors):
    missing = [t.name for t in types if t.metric_with_role("battery") is None]
    if missing:
        errors["machine_type_id"] = (f"{', '.join(missing)} has no metric with the battery "
                                     "role; give one the role on the machine type first.")
        return
    try:
        fields["threshold"] = float(str(fields["threshold"] or "").strip())
    except ValueError:
        errors["threshold"] = "Give the low battery level as a number, e.g. 20."
        return
    if fields["threshold"].is_integer():
        fields["threshold"] = int(fields["threshold"])
    fields["metric_key"] = types[0].metric_with_role("battery").key if len(types) == 1 \
        else None
    fields["condition"] = "<"


def _sensor_fault_rule(fields, types, errors):
    key = fields["metric_key"]
    if not key:
        errors["metric_key"] = "Choose the true/false metric that flags a sensor fault."
        return
    for machine_type in types:
        metric = machine_type.metric(key)
        if metric is None or metric.kind != "boolean":
            errors["metric_key"] = (f"{machine_type.name} has no true/false metric “{key}”; "
                                    "a sensor fault needs a boolean metric.")
            return
    fields["condition"], fields["threshold"] = "=", True


def _all_types():
    return db.session.scalars(select(MachineType).order_by(MachineType.name)).all()


def check_rule(fields):
    """Validate and normalise a rule's fields in place; raises ValidationFailed."""
    errors = {}
    kind, machine_type, machine = fields["kind"], fields["machine_type"], fields["machine"]
    if not (fields["name"] or "").strip():
        errors["name"] = "Give the rule a name people will recognise."
    if kind not in dict(RULE_KINDS):
        errors["kind"] = "Choose a kind of rule from the list."
    if fields["severity"] not in dict(SEVERITIES):
        errors["severity"] = "Choose a severity from the list."
    if machine_type is not None and machine is not None:
        errors["machine_id"] = "Choose a machine type or one machine, not both."
    problem = template_problem(fields["template"])
    if problem:
        errors["message_template"] = problem
    if fields["sustained_seconds"] is None or fields["sustained_seconds"] < 0:
        errors["sustained_seconds"] = "Give 0 (at once) or a number of seconds."
    if errors:
        raise ValidationFailed(errors)
    _check_kind(fields, errors)
    if errors:
        raise ValidationFailed(errors)


def _check_kind(fields, errors):
    kind, target = fields["kind"], scope_type(fields["machine_type"], fields["machine"])
    if kind == "offline":
        intervals = fields["offline_intervals"]
        if intervals is None or intervals < 1:
            errors["offline_intervals"] = "Give at least 1 poll interval."
        fields.update(metric_key=None, condition=None, threshold=None, sustained_seconds=0)
        return
    fields["offline_intervals"] = None
    types = [target] if target is not None else _all_types()
    if kind == "battery":
        _battery_rule(fields, types, errors)
    elif kind == "sensor_fault":
        _sensor_fault_rule(fields, types, errors)
    else:
        _check_threshold_kind(fields, target, errors)


def _check_threshold_kind(fields, target, errors):
    if target is None:
        errors["machine_type_id"] = "A threshold rule needs a machine type or one machine."
        return
    metric = target.metric(fields["metric_key"] or "")
    if metric is None:
        errors["metric_key"] = (f"{target.name} has no metric “{fields['metric_key'] or ''}”; "
                                "choose one of its metrics.")
        return
    _threshold_rule(fields, metric, errors)


def save_rule(rule, actor=None, **fields):
    """Check and store a rule; flushes and returns it. Fields as the form names them:
    name, kind, machine_type, machine, metric_key, condition, threshold,
    sustained_seconds, offline_intervals, severity, template, create_task, enabled."""
    check_rule(fields)
    rule.name = fields["name"].strip()
    rule.kind = fields["kind"]
    rule.machine_type = fields["machine_type"]
    rule.machine = fields["machine"]
    rule.metric_key = fields["metric_key"] or None
    rule.condition = fields["condition"]
    rule.threshold = fields["threshold"]
    rule.sustained_seconds = fields["sustained_seconds"] or 0
    rule.offline_intervals = fields["offline_intervals"]
    rule.severity = fields["severity"]
    rule.message_template = (fields["template"] or "").strip()
    rule.create_task = bool(fields["create_task"])
    rule.enabled = bool(fields["enabled"])
    if rule.id is None:
        rule.created_by = actor
        db.session.add(rule)
    else:
        _forget_conditions(rule)
    # Touch it even when nothing changed, so every process's cache reloads.
    rule.updated_at = utcnow()
    db.session.flush()
    return rule


def _forget_conditions(rule):
    """An edited or switched rule starts timing afresh: a half-lasted condition measured
    against the old settings must not raise at once under the new ones."""
    db.session.execute(delete(AlertCondition).where(AlertCondition.rule_id == rule.id))


def set_enabled(rule, enabled):
    rule.enabled = enabled
    _forget_conditions(rule)
    rule.updated_at = utcnow()
    db.session.flush()
    return rule


def rule_alert_count(rule):
    return db.session.scalar(select(func.count()).select_from(Alert)
                             .where(Alert.rule_id == rule.id)) or 0


def delete_rule(rule):
    """Delete a rule that never raised an alert; one with alerts keeps their history."""
    if rule_alert_count(rule):
        raise ValidationFailed("This rule has raised alerts, and their history needs it. "
                               "Disable the rule instead: it then raises nothing new.")
    db.session.delete(rule)
    db.session.flush()


def rules_listed():
    """A select of every rule, the enabled first, by name (the page's and the API's list)."""
    return select(AlertRule).options(
        selectinload(AlertRule.machine_type), selectinload(AlertRule.machine)).order_by(
        AlertRule.enabled.desc(), AlertRule.name, AlertRule.id)


def list_rules(page=1, per_page=25):
    return db.paginate(rules_listed(), page=page, per_page=per_page, error_out=False)


def describe(rule):
    """The rule in one line, for lists: “temperature > 70 for 20 s”."""
    if rule.kind == "offline":
        return f"No reading for {rule.offline_intervals} poll intervals"
    if rule.kind == "battery":
        text = f"Battery below {rule.threshold}"
    elif rule.kind == "sensor_fault":
        text = f"{rule.metric_key} reports a fault"
    elif rule.condition == "outside":
        text = f"{rule.metric_key} outside its normal range"
    else:
        text = f"{rule.metric_key} {dict(CONDITIONS_SHORT).get(rule.condition, rule.condition)}" \
               f" {format_value(rule.threshold)}"
    if rule.sustained_seconds:
        text += f" for {rule.sustained_seconds} s"
    return text


CONDITIONS_SHORT = ((">", ">"), (">=", "≥"), ("<", "<"), ("<=", "≤"), ("=", "="), ("!=", "≠"))


def format_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return "—" if value is None else str(value)


def scope_label(rule):
    if rule.machine is not None:
        return rule.machine.code
    if rule.machine_type is not None:
        return f"Every {rule.machine_type.name}"
    return "Every machine"


# --- the cache ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RuleSnapshot:
    """What evaluation needs of a rule, detached from any session."""

    id: int
    name: str
    kind: str
    machine_type_id: int | None
    machine_id: int | None
    metric_key: str | None
    condition: str | None
    threshold: object
    sustained_seconds: int
    offline_intervals: int | None
    severity: str
    message_template: str
    create_task: bool

    def applies_to(self, machine):
        if self.machine_id is not None:
            return machine.id == self.machine_id
        if self.machine_type_id is not None:
            return machine.machine_type_id == self.machine_type_id
        return True


@dataclass(frozen=True)
class RuleSet:
    """The enabled rules at one version, indexed by scope. Never changed once built, so
    threads read it without a lock."""

    version: int | None = None
    by_type: dict = field(default_factory=dict)
    by_machine: dict = field(default_factory=dict)
    everywhere: tuple = ()
    all: tuple = ()

    def for_machine(self, machine):
        return [*self.by_machine.get(machine.id, ()),
                *self.by_type.get(machine.machine_type_id, ()), *self.everywhere]


class RuleCache:
    def __init__(self):
        self.rules = RuleSet(version=None)

    def current(self):
        """The rules now: reloaded when any rule changed anywhere, one small query if not."""
        version = version_seen("alert_rules")
        if version is None:
            version = current_version("alert_rules")
        if version != self.rules.version:
            self.rules = _load(version)
        return self.rules


def _load(version):
    rules = db.session.scalars(select(AlertRule).where(AlertRule.enabled.is_(True))
                               .order_by(AlertRule.id)).all()
    by_type, by_machine, everywhere = {}, {}, []
    snapshots = tuple(_snapshot(r) for r in rules)
    for snap in snapshots:
        if snap.machine_id is not None:
            by_machine.setdefault(snap.machine_id, []).append(snap)
        elif snap.machine_type_id is not None:
            by_type.setdefault(snap.machine_type_id, []).append(snap)
        else:
            everywhere.append(snap)
    return RuleSet(version, by_type, by_machine, tuple(everywhere), snapshots)


def _snapshot(rule):
    return RuleSnapshot(rule.id, rule.name, rule.kind, rule.machine_type_id, rule.machine_id,
                        rule.metric_key, rule.condition, rule.threshold,
                        rule.sustained_seconds or 0, rule.offline_intervals, rule.severity,
                        rule.message_template or DEFAULT_TEMPLATES.get(rule.kind, ""),
                        rule.create_task)


CACHE = RuleCache()


def machines_in_scope(snap):
    """A select of the machines a rule watches."""
    stmt = select(Machine)
    if snap.machine_id is not None:
        return stmt.where(Machine.id == snap.machine_id)
    if snap.machine_type_id is not None:
        return stmt.where(Machine.machine_type_id == snap.machine_type_id)
    return stmt
