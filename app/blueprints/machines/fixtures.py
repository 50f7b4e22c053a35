"""Load departments, lines, machine types and machines from a JSON file, all or nothing.

Two shapes are accepted:
  * Floorline's own: {"departments": [...], "lines": [...], "machine_types": [...],
    "machines": [...]} (see docs/fixtures.md);
  * a Django fixture list like the smart-analytics seed's machines.json:
    [{"model": "machine.machine", "pk": 1, "fields": {"machine_id": ..., "name": ...}}].
Every problem is reported with the line of the object it is in; nothing is written unless
the whole file is good. Loading the same file twice changes nothing (upsert by code/name).
"""

import json
import re
from json import scanner
from json.decoder import JSONObject

from sqlalchemy import select

from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import services
from .models import Department, Line, Machine, MachineType, Metric


class LinedDict(dict):
    line = None


def _decoder(text):
    decoder = json.JSONDecoder()

    def parse_object(s_and_end, strict, scan_once, object_hook, object_pairs_hook,
                     memo=None, _w=None):
        start = s_and_end[1] - 1
        pairs, end = JSONObject(s_and_end, strict, scan_once, object_hook, object_pairs_hook,
                                memo)
        obj = LinedDict(pairs)
        obj.line = text.count("\n", 0, start) + 1
        return obj, end

    decoder.parse_object = parse_object
    decoder.scan_once = scanner.py_make_scanner(decoder)
    return decoder


def parse(text):
    """JSON with each object's starting line number remembered, or a located syntax error."""
    try:
        return _decoder(text).decode(text)
    except json.JSONDecodeError as exc:
        raise ValidationFailed(f"line {exc.lineno}, column {exc.colno}: not valid JSON "
                               f"({exc.msg}).") from None


class FixtureErrors:
    def __init__(self):
        self.messages = []

    def add(self, obj, field, message):
        line = getattr(obj, "line", None)
        where = f"line {line}" if line else "top level"
        self.messages.append(f"{where}: {field}: {message}" if field else f"{where}: {message}")


def _str(obj, field, errors, required=True, default=""):
    value = obj.get(field, default)
    if value is None:
        value = default
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        errors.add(obj, field, "must be text")
        return default
    value = str(value).strip()
    if required and not value:
        errors.add(obj, field, "is required")
    return value


def _number(obj, field, errors):
    value = obj.get(field)
    if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return value
    errors.add(obj, field, "must be a number")
    return None


def _list(data, key, errors):
    value = data.get(key, [])
    if not isinstance(value, list):
        errors.add(data, key, "must be a list")
        return []
    return value


def from_django(items, errors):
    """Translate a Django machines.json into our shape (machine_id → code and vendor id)."""
    machines = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("fields"), dict):
            errors.add(item, "fields", "each entry needs a 'fields' object")
            continue
        if not str(item.get("model", "")).endswith("machine"):
            errors.add(item, "model", f"unsupported model '{item.get('model')}'")
            continue
        fields = item["fields"]
        vendor_id = _str(fields, "machine_id", errors)
        name = _str(fields, "name", errors)
        type_name = fields.get("type") or re.sub(r"\s*(machine)?\s*\d+$", "", name,
                                                 flags=re.I).strip()
        machine = LinedDict(code=vendor_id.upper().replace("_", "-"), name=name,
                            vendor_id=vendor_id, type=type_name)
        machine.line = fields.line
        machines.append(machine)
    types = [LinedDict(name=t) for t in sorted({m["type"] for m in machines if m["type"]})]
    return {"departments": [], "lines": [], "machine_types": types, "machines": machines,
            "_create_missing_types": True}


def load(text):
    """Validate and load a fixture; returns counts. Raises ValidationFailed listing problems."""
    data = parse(text)
    errors = FixtureErrors()
    if isinstance(data, list):
        data = from_django(data, errors)
    elif not isinstance(data, dict):
        raise ValidationFailed("line 1: the file must hold an object or a list.")
    counts = {"departments": 0, "lines": 0, "machine_types": 0, "machines": 0}
    with db.session.begin_nested():
        loader = _Loader(data, errors, counts)
        loader.run()
        if errors.messages:
            raise ValidationFailed({"": "\n".join(errors.messages)})
    return counts


class _Loader:
    def __init__(self, data, errors, counts):
        self.data, self.errors, self.counts = data, errors, counts

    def run(self):
        for obj in _list(self.data, "departments", self.errors):
            self._department(obj)
        for obj in _list(self.data, "lines", self.errors):
            self._line(obj)
        for obj in _list(self.data, "machine_types", self.errors):
            self._machine_type(obj)
        for obj in _list(self.data, "machines", self.errors):
            self._machine(obj)

    def _guard(self, obj, label, fn):
        """Run one service call; its validation errors are reported against `obj`."""
        try:
            with db.session.begin_nested():
                fn()
            return True
        except ValidationFailed as exc:
            for field, message in exc.errors.items():
                self.errors.add(obj, field, f"{label}: {message}")
            return False

    def _department(self, obj):
        if not isinstance(obj, dict):
            return self.errors.add(obj, "departments", "each entry must be an object")
        code, name = _str(obj, "code", self.errors), _str(obj, "name", self.errors)
        if not (code and name):
            return None
        found = db.session.scalar(select(Department).filter_by(code=code.upper()))
        department = found or Department()
        if self._guard(obj, f"department {code}",
                       lambda: services.save_department(department, code, name)):
            self.counts["departments"] += 1

    def _find(self, model, obj, field, value, by="code"):
        if not value:
            return None
        column = getattr(model, by)
        found = db.session.scalar(select(model).where(
            column == (value.upper() if by == "code" else value)))
        if found is None:
            self.errors.add(obj, field, f"unknown {model.__tablename__[:-1].replace('_', ' ')} "
                                        f"'{value}'")
        return found

    def _line(self, obj):
        if not isinstance(obj, dict):
            return self.errors.add(obj, "lines", "each entry must be an object")
        code, name = _str(obj, "code", self.errors), _str(obj, "name", self.errors)
        department = self._find(Department, obj, "department",
                                _str(obj, "department", self.errors, required=False))
        if not (code and name):
            return None
        line = db.session.scalar(select(Line).filter_by(code=code.upper())) or Line()
        if self._guard(obj, f"line {code}",
                       lambda: services.save_line(line, code, name, department)):
            self.counts["lines"] += 1

    def _machine_type(self, obj):
        if not isinstance(obj, dict):
            return self.errors.add(obj, "machine_types", "each entry must be an object")
        name = _str(obj, "name", self.errors)
        if not name:
            return None
        machine_type = (db.session.scalar(select(MachineType).filter_by(name=name))
                        or MachineType())
        if self.data.get("_create_missing_types") and machine_type.id is not None:
            return None
        if not self._guard(obj, f"machine type {name}", lambda: services.save_machine_type(
                machine_type, name, _str(obj, "description", self.errors, required=False))):
            return None
        self.counts["machine_types"] += 1
        for metric_obj in _list(obj, "metrics", self.errors):
            self._metric(machine_type, metric_obj)

    def _metric(self, machine_type, obj):
        if not isinstance(obj, dict):
            return self.errors.add(obj, "metrics", "each entry must be an object")
        key = _str(obj, "key", self.errors)
        metric = machine_type.metric(key) or Metric()
        self._guard(obj, f"metric {key}", lambda: services.save_metric(
            machine_type, metric, key=key,
            label=_str(obj, "label", self.errors, required=False) or key,
            unit=_str(obj, "unit", self.errors, required=False),
            kind=_str(obj, "kind", self.errors, required=False, default="number"),
            normal_min=_number(obj, "min", self.errors),
            normal_max=_number(obj, "max", self.errors),
            role=_str(obj, "role", self.errors, required=False) or None))

    def _machine(self, obj):
        if not isinstance(obj, dict):
            return self.errors.add(obj, "machines", "each entry must be an object")
        code = _str(obj, "code", self.errors)
        machine_type = self._find(MachineType, obj, "type", _str(obj, "type", self.errors),
                                  by="name")
        department = self._find(Department, obj, "department",
                                _str(obj, "department", self.errors, required=False))
        line = self._find(Line, obj, "line", _str(obj, "line", self.errors, required=False))
        polling = obj.get("polling", False)
        if not isinstance(polling, bool):
            self.errors.add(obj, "polling", "must be true or false")
        if not code or machine_type is None:
            return None
        machine = db.session.scalar(select(Machine).filter_by(code=code.upper())) or Machine()
        if self._guard(obj, f"machine {code}", lambda: services.save_machine(
                machine, code=code, name=_str(obj, "name", self.errors),
                machine_type=machine_type, department=department, line=line,
                vendor_id=_str(obj, "vendor_id", self.errors, required=False),
                data_url=_str(obj, "data_url", self.errors, required=False),
                polling_enabled=polling is True,
                status=_str(obj, "status", self.errors, required=False, default="active"),
                location=_str(obj, "location", self.errors, required=False))):
            self.counts["machines"] += 1
