"""The machines the simulator plays: Floorline's machines that have a vendor id."""

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.blueprints.machines.models import Machine, MachineType
from app.core.extensions import db

from .signals import MachineSpec, MetricSpec


def spec_for(machine):
    """A machine and its type's metric definitions as plain data for the signal model."""
    return MachineSpec(code=machine.code, vendor_id=machine.vendor_id, metrics=tuple(
        MetricSpec(key=m.key, kind=m.kind, normal_min=m.normal_min, normal_max=m.normal_max,
                   role=m.role, unit=m.unit or "")
        for m in machine.machine_type.metrics))


def load_specs():
    """Every machine with a vendor id, in code order (needs an app context)."""
    machines = db.session.scalars(
        select(Machine).where(Machine.vendor_id.isnot(None)).order_by(Machine.code)
        .options(selectinload(Machine.machine_type).selectinload(MachineType.metrics))).all()
    return [spec_for(m) for m in machines]


def push_machines():
    """Machines that push rather than being polled: a vendor id and polling off."""
    return db.session.scalars(
        select(Machine).where(Machine.vendor_id.isnot(None), Machine.polling_enabled.is_(False))
        .order_by(Machine.code)).all()
