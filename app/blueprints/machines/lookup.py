"""The machine lookup for the ingest path, kept in memory per process.

Every reading names its machine by our code or the vendor's id, and needs the machine's
type, the type's metrics and (for a single reading) its webhook secret. Loading those
through the ORM was 44 % of the single-reading webhook's CPU (docs/PERFORMANCE.md), so each
process keeps one immutable snapshot of the whole registry, built with two Core queries.

A snapshot is trusted only at the registry version it was built at: database triggers give
`registry_versions.version` a new, never reused value on every write to machines, machine
types or metrics, from any process (see the migration). The ingest path checks it inside its
writing statement (the statement writes nothing at another version, and the caller reloads
and tries again), and `fresh()` checks it with one small query before an answer that a
stale snapshot could make wrong (an unknown machine, a bad signature, an unknown metric).
"""

import threading
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from app.core.extensions import db

from .models import Machine, MachineType, Metric, RegistryVersion


@dataclass(frozen=True, eq=False)
class MetricInfo:
    id: int
    key: str
    label: str
    unit: str
    kind: str
    normal_min: float | None
    normal_max: float | None
    role: str | None
    position: int

    @property
    def range_text(self):
        return Metric.range_text.fget(self)


@dataclass(frozen=True, eq=False)
class TypeInfo:
    """A machine type with the questions the ingest path and its listeners ask of it."""

    id: int
    name: str
    metrics: tuple
    by_key: dict = field(default_factory=dict)

    def metric(self, key):
        return self.by_key.get(key)

    def metric_with_role(self, role):
        return next((m for m in self.metrics if m.role == role), None)

    @property
    def trend_metric(self):
        return MachineType.trend_metric.fget(self)


@dataclass(frozen=True, eq=False)
class MachineInfo:
    id: int
    code: str
    name: str
    vendor_id: str | None
    webhook_secret: str
    machine_type_id: int
    line_id: int | None
    machine_type: TypeInfo

    def __str__(self):
        return f"{self.code} {self.name}"


@dataclass(frozen=True)
class Snapshot:
    version: int | None
    by_code: dict
    by_vendor_id: dict
    by_id: dict

    def find(self, key):
        key = str(key)
        return self.by_code.get(key.upper()) or self.by_vendor_id.get(key)


EMPTY = Snapshot(None, {}, {}, {})


def current_version(name="machines"):
    """0 when the row is gone (every table emptied): the next write puts it back."""
    return db.session.scalar(select(RegistryVersion.version)
                             .where(RegistryVersion.name == name)) or 0


def remember_versions(versions):
    """Keep the versions a statement of this transaction read (name → version), so the
    ingest path's listeners need not ask again (alerts/rules.py)."""
    db.session.info["registry_versions"] = (db.session().get_transaction(), versions or {})


def version_seen(name):
    """The version of `name` as this transaction read it already, else None."""
    seen = db.session.info.get("registry_versions")
    if seen is None or seen[0] is not db.session().get_transaction():
        return None
    return seen[1].get(name, 0)


def _load():
    version = current_version()
    metrics = {}
    for row in db.session.execute(
            select(Metric.machine_type_id, Metric.id, Metric.key, Metric.label, Metric.unit,
                   Metric.kind, Metric.normal_min, Metric.normal_max, Metric.role,
                   Metric.position).order_by(Metric.position, Metric.id)):
        metrics.setdefault(row[0], []).append(MetricInfo(*row[1:]))
    types = {}
    for type_id, name in db.session.execute(select(MachineType.id, MachineType.name)):
        own = tuple(metrics.get(type_id, ()))
        types[type_id] = TypeInfo(type_id, name, own, {m.key: m for m in own})
    by_code, by_vendor_id, by_id = {}, {}, {}
    for row in db.session.execute(
            select(Machine.id, Machine.code, Machine.name, Machine.vendor_id,
                   Machine.webhook_secret, Machine.machine_type_id, Machine.line_id)):
        machine = MachineInfo(*row, machine_type=types[row.machine_type_id])
        by_code[machine.code.upper()] = by_id[machine.id] = machine
        if machine.vendor_id:
            by_vendor_id[machine.vendor_id] = machine
    return Snapshot(version, by_code, by_vendor_id, by_id)


class MachineLookup:
    """One per app (per process): the snapshot, replaced whole when it is stale."""

    def __init__(self):
        self.snapshot = EMPTY
        self._lock = threading.Lock()

    def get(self):
        """The snapshot as it is, unchecked (the caller checks the version when it writes);
        loaded on first use."""
        if self.snapshot.version is None:
            return self.reload()
        return self.snapshot

    def reload(self):
        with self._lock:
            self.snapshot = _load()
            return self.snapshot

    def fresh(self):
        """The snapshot, checked against the database's version (one small query)."""
        snapshot = self.snapshot
        if snapshot.version is not None and current_version() == snapshot.version:
            return snapshot
        return self.reload()


def machine_lookup():
    lookup = current_app.extensions.get("machine_lookup")
    if lookup is None:
        lookup = current_app.extensions.setdefault("machine_lookup", MachineLookup())
    return lookup
