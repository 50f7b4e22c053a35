"""The machine registry: departments, lines, types with their metrics, machines, assignments."""

import re
import secrets
from urllib.parse import urlparse

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.core.errors import InUse, ValidationFailed
from app.core.extensions import db
from app.core.models import contains_text
from app.realtime import publish_after_commit

from .models import (
    MACHINE_STATUSES,
    METRIC_KINDS,
    METRIC_ROLES,
    Department,
    Line,
    Machine,
    MachineType,
    line_operators,
    machine_operators,
)

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_.-]{0,31}$")
METRIC_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def new_webhook_secret():
    return secrets.token_urlsafe(32)


def normalize_code(code):
    return (code or "").strip().upper()


# --- visibility -------------------------------------------------------------------------

def visible_machines(user):
    """A select of the machines `user` may see: operators their own, everyone else all."""
    stmt = select(Machine)
    if user.role in roles.MACHINE_BOUND:
        direct = select(machine_operators.c.machine_id).where(
            machine_operators.c.user_id == user.id)
        via_line = select(line_operators.c.line_id).where(line_operators.c.user_id == user.id)
        stmt = stmt.where(or_(Machine.id.in_(direct), Machine.line_id.in_(via_line)))
    return stmt


def can_see_machine(user, machine):
    if user.role not in roles.MACHINE_BOUND:
        return True
    return (user in machine.operators
            or (machine.line is not None and user in machine.line.operators))


def search_machines(user, query="", line_id=None, department_id=None, type_id=None,
                    status=""):
    stmt = visible_machines(user).options(
        selectinload(Machine.machine_type), selectinload(Machine.line),
        selectinload(Machine.department)).order_by(Machine.code)
    if query:
        stmt = stmt.where(contains_text(query, Machine.code, Machine.name, Machine.vendor_id))
    if line_id:
        stmt = stmt.where(Machine.line_id == line_id)
    if department_id:
        stmt = stmt.where(Machine.department_id == department_id)
    if type_id:
        stmt = stmt.where(Machine.machine_type_id == type_id)
    if status:
        stmt = stmt.where(Machine.status == status)
    return stmt


def filter_choices(user):
    """Lines, departments and types for the list filters: an operator's own, or all."""
    if user.role not in roles.MACHINE_BOUND:
        return {"lines": lines_ordered(), "departments": departments_ordered(),
                "types": types_ordered()}
    machines = db.session.scalars(visible_machines(user)).all()

    def distinct(attr):
        found = {getattr(m, attr) for m in machines} - {None}
        return sorted(found, key=lambda obj: obj.name)
    return {"lines": distinct("line"), "departments": distinct("department"),
            "types": distinct("machine_type")}


def machine_operators_of(machine):
    """Everyone assigned to a machine, directly or through its line, by username."""
    people = set(machine.operators)
    if machine.line is not None:
        people.update(machine.line.operators)
    return sorted(people, key=lambda u: u.username)


def lines_ordered():
    return db.session.scalars(select(Line).order_by(Line.name)).all()


def departments_ordered():
    return db.session.scalars(select(Department).order_by(Department.name)).all()


def types_ordered():
    return db.session.scalars(select(MachineType).order_by(MachineType.name)).all()


def machines_ordered():
    return db.session.scalars(select(Machine).order_by(Machine.code)).all()


def workplace_choices():
    """For auth's user forms: (line choices, machine choices) as [(id, label)]."""
    return ([(ln.id, f"{ln.name} ({ln.code})") for ln in lines_ordered()],
            [(m.id, f"{m.code} {m.name}") for m in machines_ordered()])


def chosen_workplace(line_ids, machine_ids):
    """(lines, machines) of these ids that exist, in the order given."""
    return _existing(Line, line_ids), _existing(Machine, machine_ids)


def _existing(model, ids):
    return [obj for obj in (db.session.get(model, i) for i in ids) if obj is not None]


def operators_ordered():
    return db.session.scalars(select(User).where(
        User.role.in_(roles.MACHINE_BOUND), User.active.is_(True)).order_by(User.username)).all()


# --- departments and lines ---------------------------------------------------------------

def _require_unique(model, field, value, current=None, label=None):
    column = getattr(model, field)
    stmt = select(model.id).where(func.lower(column) == value.lower())
    if current is not None and current.id is not None:
        stmt = stmt.where(model.id != current.id)
    if db.session.scalar(stmt):
        raise ValidationFailed({field: f"{label or field.capitalize()} '{value}' is already used."})


def _validated_code(code):
    code = normalize_code(code)
    if not CODE_RE.match(code):
        raise ValidationFailed({"code": "Use 1–32 capital letters, digits, dots, dashes or "
                                        "underscores, e.g. CNC-07."})
    return code


def _set_code_and_name(place, code, name):
    """A department's or line's code and name, checked and unique among its kind."""
    code = _validated_code(code)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": "Enter a name."})
    _require_unique(type(place), "code", code, place, "Code")
    _require_unique(type(place), "name", name, place, "Name")
    place.code, place.name = code, name


def save_department(department, code, name):
    _set_code_and_name(department, code, name)
    db.session.add(department)
    db.session.flush()
    return department


def _check_operators(operators, field):
    bad = [u.username for u in operators if u.role not in roles.MACHINE_BOUND]
    if bad:
        raise ValidationFailed({field: f"Not operators: {', '.join(bad)}."})


def save_line(line, code, name, department=None, operators=None):
    if operators is not None:  # checked before anything changes (and before autoflush)
        _check_operators(operators, "operators")
    _set_code_and_name(line, code, name)
    line.department = department
    if operators is not None:
        line.operators = list(operators)
    db.session.add(line)
    db.session.flush()
    publish_after_commit("line.updated", id=line.id)
    return line


def _count(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


def delete_department(department):
    """Only an empty department goes: machines and lines in it would lose their place."""
    users = [_count(len(department.machines), "machine") if department.machines else "",
             _count(len(department.lines), "line") if department.lines else ""]
    users = [u for u in users if u]
    if users:
        raise InUse(f"{' and '.join(users)} belong to {department.name}; move them to "
                    "another department first.")
    db.session.delete(department)
    db.session.flush()


def delete_line(line):
    """Only a line without machines and operators goes: they would lose their place, and
    operators the machines they see through it."""
    users = [_count(len(line.machines), "machine") if line.machines else "",
             _count(len(line.operators), "operator") if line.operators else ""]
    users = [u for u in users if u]
    if users:
        raise InUse(f"{' and '.join(users)} belong to {line.name}; move them to another "
                    "line first.")
    db.session.delete(line)
    db.session.flush()


# --- machine types and metrics -----------------------------------------------------------

def save_machine_type(machine_type, name, description=""):
    name = (name or "").strip()
    if not name:
        raise ValidationFailed({"name": "Enter a name."})
    _require_unique(MachineType, "name", name, machine_type, "Name")
    machine_type.name, machine_type.description = name, (description or "").strip()
    db.session.add(machine_type)
    db.session.flush()
    return machine_type


def _metric_errors(machine_type, metric, key, kind, normal_min, normal_max, role):
    errors = {}
    if not METRIC_KEY_RE.match(key):
        errors["key"] = ("Use lower-case letters, digits and underscores, starting with a "
                         "letter, e.g. spindle_speed.")
    elif any(m.key == key and m is not metric for m in machine_type.metrics):
        errors["key"] = f"{machine_type.name} already has a metric '{key}'."
    if kind not in METRIC_KINDS:
        errors["kind"] = f"Kind must be one of {', '.join(METRIC_KINDS)}."
    if kind != "number" and (normal_min is not None or normal_max is not None):
        errors["normal_min"] = "Only number metrics have a normal range."
    if normal_min is not None and normal_max is not None and normal_min > normal_max:
        errors["normal_max"] = "The maximum must not be below the minimum."
    if role:
        errors.update(_role_errors(machine_type, metric, kind, role))
    return errors


def _role_errors(machine_type, metric, kind, role):
    role_labels = dict(METRIC_ROLES)
    if role not in role_labels:
        return {"role": f"Unknown role '{role}'."}
    holder = machine_type.metric_with_role(role)
    if holder is not None and holder is not metric:
        return {"role": f"'{holder.key}' is already the {role_labels[role].lower()}."}
    wanted = "boolean" if role == "running" else "number"
    if kind != wanted:
        return {"role": f"The {role_labels[role].lower()} must be a {wanted} metric."}
    return {}


def save_metric(machine_type, metric, key, label, unit="", kind="number", normal_min=None,
                normal_max=None, role=None):
    key = (key or "").strip()
    role = role or None
    errors = _metric_errors(machine_type, metric, key, kind, normal_min, normal_max, role)
    if errors:
        raise ValidationFailed(errors)
    if metric.id is None and metric not in machine_type.metrics:
        metric.position = len(machine_type.metrics)
        machine_type.metrics.append(metric)
    metric.key, metric.label, metric.unit = key, (label or key).strip(), (unit or "").strip()
    metric.kind, metric.normal_min, metric.normal_max, metric.role = (
        kind, normal_min, normal_max, role)
    db.session.flush()
    return metric


def delete_metric(metric):
    metric.machine_type.metrics.remove(metric)
    db.session.flush()


def delete_machine_type(machine_type):
    if machine_type.machines:
        raise InUse(f"{len(machine_type.machines)} machines use {machine_type.name}; "
                               "move them to another type first.")
    db.session.delete(machine_type)
    db.session.flush()


# --- machines ------------------------------------------------------------------------------

def _check_data_url(url):
    if not url:
        return None
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationFailed({"data_url": "Enter a full http:// or https:// address."})
    return url


def save_machine(machine, code, name, machine_type, department=None, line=None,
                 vendor_id=None, data_url=None, polling_enabled=False, status="active",
                 location="", notes=""):
    code = _validated_code(code)
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Enter a name."
    if machine_type is None:
        errors["machine_type_id"] = "Choose a machine type."
    if status not in dict(MACHINE_STATUSES):
        errors["status"] = f"Unknown status '{status}'."
    try:
        data_url = _check_data_url((data_url or "").strip())
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if polling_enabled and not data_url:
        errors["polling_enabled"] = "Polling needs a data URL."
    if errors:
        raise ValidationFailed(errors)
    _require_unique(Machine, "code", code, machine, "Machine code")
    vendor_id = (vendor_id or "").strip() or None
    if vendor_id:
        _require_unique(Machine, "vendor_id", vendor_id, machine, "Vendor id")
    created = machine.id is None
    machine.code, machine.name, machine.machine_type = code, name, machine_type
    machine.department, machine.line, machine.vendor_id = department, line, vendor_id
    machine.data_url, machine.polling_enabled, machine.status = data_url, polling_enabled, status
    machine.location, machine.notes = (location or "").strip(), (notes or "").strip()
    if not machine.webhook_secret:
        machine.webhook_secret = new_webhook_secret()
    db.session.add(machine)
    db.session.flush()
    publish_after_commit("machine.created" if created else "machine.updated", id=machine.id)
    return machine


def rotate_webhook_secret(machine):
    machine.webhook_secret = new_webhook_secret()
    db.session.flush()
    return machine.webhook_secret


def set_machine_operators(machine, operators):
    _check_operators(operators, "operators")
    machine.operators = list(operators)
    db.session.flush()
    publish_after_commit("machine.updated", id=machine.id)


def delete_machine(machine):
    """Only a machine without readings goes: one that reported keeps its history and is
    retired instead (status "retired")."""
    if machine.state is not None:
        raise ValidationFailed({"status": f"{machine.code} has reported readings; retire it "
                                          "(status retired) to keep its history."})
    db.session.delete(machine)
    db.session.flush()
