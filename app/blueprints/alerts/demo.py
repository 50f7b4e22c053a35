"""Demo alert rules for the demo plant (idempotent, matched by name; the caller commits).

The simulator overheats one running machine (of any type) above its type's normal maximum
every few minutes, so every type with a temperature gets an overheating rule that makes a
maintenance task: with `make run` an alert and a task appear within a minute.
"""

from sqlalchemy import select

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.blueprints.machines.models import MachineType
from app.core.extensions import db

from .models import AlertRule
from .rules import save_rule

OVERHEAT_SECONDS = 20
VIBRATION_SECONDS = 30
BATTERY_LOW = 20
OFFLINE_INTERVALS = 3


def _temperature(machine_type):
    return next((m for m in machine_type.metrics if m.kind == "number"
                 and "temp" in m.key and m.normal_max is not None), None)


def _vibration(machine_type):
    return next((m for m in machine_type.metrics if m.kind == "number"
                 and "vibration" in m.key and m.normal_max is not None), None)


def demo_rules():
    """(name, fields) for every demo rule the plant's types allow."""
    wanted = []
    for machine_type in db.session.scalars(select(MachineType).order_by(MachineType.name)):
        temperature, vibration = _temperature(machine_type), _vibration(machine_type)
        if temperature is not None:
            wanted.append((f"Overheating · {machine_type.name}", dict(
                kind="threshold", machine_type=machine_type, metric_key=temperature.key,
                condition=">", threshold=str(temperature.normal_max),
                sustained_seconds=OVERHEAT_SECONDS, severity="critical", create_task=True,
                template="{machine} is overheating: {metric} {value}{unit}, above "
                         "{threshold}{unit} for " + f"{OVERHEAT_SECONDS} s")))
        if vibration is not None:
            wanted.append((f"Vibration high · {machine_type.name}", dict(
                kind="threshold", machine_type=machine_type, metric_key=vibration.key,
                condition="outside", threshold="", sustained_seconds=VIBRATION_SECONDS,
                severity="warning", create_task=False,
                template="{machine}: {metric} {value}{unit} outside its normal range")))
        if machine_type.metric_with_role("battery") is not None:
            wanted.append((f"Battery low · {machine_type.name}", dict(
                kind="battery", machine_type=machine_type, metric_key=None, condition=None,
                threshold=str(BATTERY_LOW), sustained_seconds=0, severity="warning",
                create_task=False, template="")))
    wanted.append(("Machine offline", dict(
        kind="offline", machine_type=None, metric_key=None, condition=None, threshold=None,
        sustained_seconds=0, offline_intervals=OFFLINE_INTERVALS, severity="warning",
        create_task=False, template="")))
    return wanted


def seed_demo():
    """Add the demo rules that are missing; returns the ones made."""
    admin = db.session.scalar(select(User).where(User.role == roles.ADMIN).order_by(User.id)
                              .limit(1))
    existing = set(db.session.scalars(select(AlertRule.name)))
    made = []
    for name, fields in demo_rules():
        if name in existing:
            continue
        fields.setdefault("offline_intervals", None)
        made.append(save_rule(AlertRule(), actor=admin, name=name, machine=None,
                              enabled=True, **fields))
    return made
