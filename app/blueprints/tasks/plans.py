"""Maintenance plans: every N days, N running hours or N parts, whichever comes first.

The meters (running seconds, parts) are counted from telemetry by meters.py; a plan that is
due gets one task (never a second while that one is open), and finishing the task resets
the plan's counters.
"""

import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from app.blueprints.machines.models import Machine, MachineType
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import as_utc, utcnow

from .models import MaintenancePlan, Task

MAX_DAYS = 3650
MAX_HOURS = 100_000
MAX_PARTS = 100_000_000
MAX_DAYS_TO_FINISH = 365


# --- checking and saving ---------------------------------------------------------------

def _number(raw, kind, field, label, upper, errors):
    """None for empty; a positive number of `kind`, else an error under `field`."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        return None
    try:
        value = kind(text.replace(",", "."))
    except ValueError:
        whole = "a whole number" if kind is int else "a number"
        errors[field] = f"{label} must be {whole}, e.g. {'30' if kind is int else '8'}."
        return None
    if value <= 0:
        errors[field] = f"{label} must be more than 0."
    elif value > upper:
        errors[field] = f"{label} can be at most {upper:,}."
    return value


def running_metric(machine):
    return machine.machine_type.metric_with_role("running") if machine else None


def counter_metric(machine):
    return machine.machine_type.metric_with_role("part_counter") if machine else None


def save_plan(user, plan, machine, title, description, priority, every_days,
              every_running_hours, every_parts, days_to_finish):
    """Check and save a plan (new or edited); flushes. Numbers may come as form text."""
    from .services import PRIORITY_LABELS, _clean_text

    if not user.is_manager:
        raise Forbidden("Only managers set up maintenance plans.")
    title, description, errors = _clean_text(title, description)
    if machine is None:
        errors["machine_id"] = "Choose the machine."
    if priority not in PRIORITY_LABELS:
        errors["priority"] = "Choose a priority: " + ", ".join(PRIORITY_LABELS.values()) + "."
    days = _number(every_days, int, "every_days", "Every … days", MAX_DAYS, errors)
    hours = _number(every_running_hours, float, "every_running_hours",
                    "Every … running hours", MAX_HOURS, errors)
    parts = _number(every_parts, int, "every_parts", "Every … parts", MAX_PARTS, errors)
    finish = _number(days_to_finish, int, "days_to_finish", "Days to finish",
                     MAX_DAYS_TO_FINISH, errors)
    if finish is None and "days_to_finish" not in errors:
        errors["days_to_finish"] = "Say how many days the work may take, e.g. 3."
    if not any(k in errors for k in ("every_days", "every_running_hours", "every_parts")) \
            and days is None and hours is None and parts is None:
        errors["every_days"] = ("Give at least one interval: every N days, every N running "
                                "hours or every N parts.")
    if machine is not None:
        _check_meters(machine, hours, parts, errors)
    if errors:
        raise ValidationFailed(errors)
    if plan.id is None or plan.machine_id != machine.id:
        _start_counting(plan, utcnow())
    plan.machine = machine
    plan.title, plan.description, plan.priority = title, description, priority
    plan.every_days, plan.every_running_hours, plan.every_parts = days, hours, parts
    plan.days_to_finish = finish
    if plan.id is None:
        plan.created_by = user
        plan.active = True
        db.session.add(plan)
    db.session.flush()
    return plan


def _check_meters(machine, hours, parts, errors):
    type_name = machine.machine_type.name
    if hours is not None and running_metric(machine) is None:
        errors["every_running_hours"] = (
            f"{machine.code} cannot count running hours: its type “{type_name}” has no "
            "metric with the role “Running flag”. Add one to the type, or plan by days.")
    if parts is not None and counter_metric(machine) is None:
        errors["every_parts"] = (
            f"{machine.code} cannot count parts: its type “{type_name}” has no metric with "
            "the role “Part counter”. Add one to the type, or plan by days.")


def _start_counting(plan, at):
    plan.counted_since = at
    plan.running_seconds = 0
    plan.parts = 0
    plan.last_counter = None
    plan.last_running = None
    plan.last_reading_at = None


def set_active(user, plan, active):
    if not user.is_manager:
        raise Forbidden("Only managers switch maintenance plans on and off.")
    if plan.active == active:
        return False
    plan.active = active
    if active:
        # Counting starts again from now: the time it was off is not wear.
        _start_counting(plan, utcnow())
    db.session.flush()
    return True


def reset_plan(plan, at):
    """The plan's task is done: count afresh from `at`, from the last reading seen."""
    plan.counted_since = at
    plan.running_seconds = 0
    plan.parts = 0


# --- progress and due ------------------------------------------------------------------

@dataclass
class Meter:
    label: str
    done: float
    limit: float
    unit: str

    @property
    def fraction(self):
        return min(1.0, self.done / self.limit) if self.limit else 0.0

    @property
    def percent(self):
        return round(self.fraction * 100)

    @property
    def reached(self):
        return self.done >= self.limit

    @property
    def text(self):
        # Rounded down: "8 / 8 running hours" must not show before the limit is reached.
        return f"{_fmt(self.done)} / {_fmt(self.limit)} {self.unit}"


def _fmt(value):
    value = math.floor(value * 10) / 10
    return f"{value:,.1f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def meters(plan, now=None):
    """Progress of each of the plan's intervals since it last counted afresh."""
    now = now or utcnow()
    found = []
    if plan.every_days:
        days = max(0.0, (now - as_utc(plan.counted_since)).total_seconds() / 86400)
        found.append(Meter("days", days, plan.every_days, "days"))
    if plan.every_running_hours:
        found.append(Meter("running hours", plan.running_seconds / 3600,
                           plan.every_running_hours, "running hours"))
    if plan.every_parts:
        found.append(Meter("parts", plan.parts, plan.every_parts, "parts"))
    return found


def due_reasons(plan, now):
    return [m.text for m in meters(plan, now) if m.reached]


def next_due_date(plan):
    """The calendar date the plan falls due on (None for a plan by meters only)."""
    if not plan.every_days:
        return None
    return as_utc(plan.counted_since) + timedelta(days=plan.every_days)


def _has_open_task():
    return exists().where(Task.plan_id == MaintenancePlan.id, Task.status != "finished")


def open_task_of(plan):
    return db.session.scalar(select(Task).where(Task.plan_id == plan.id,
                                                Task.status != "finished").limit(1))


def make_due_tasks(now=None, plan_ids=None):
    """One task for each active plan that is due and has no open task; returns them."""
    now = now or utcnow()
    stmt = select(MaintenancePlan).where(MaintenancePlan.active.is_(True), ~_has_open_task())
    if plan_ids is not None:
        stmt = stmt.where(MaintenancePlan.id.in_(list(plan_ids)))
    plans = db.session.scalars(stmt.options(selectinload(MaintenancePlan.machine)
                                            .selectinload(Machine.machine_type)
                                            .selectinload(MachineType.metrics))
                               .order_by(MaintenancePlan.id).with_for_update(
                                   of=MaintenancePlan, skip_locked=True)).all()
    return [_make_task(plan, reasons, now) for plan in plans
            if (reasons := due_reasons(plan, now))]


def _make_task(plan, reasons, now):
    from .services import create_task

    description = (plan.description + "\n\n" if plan.description else "") + \
        "Due by the maintenance plan: " + "; ".join(reasons) + "."
    return create_task(plan.machine, plan.title, description, source="plan",
                       priority=plan.priority, plan=plan,
                       due_at=now + timedelta(days=plan.days_to_finish))


def plans_for(machine=None, include_inactive=True):
    stmt = select(MaintenancePlan).options(selectinload(MaintenancePlan.machine))
    if machine is not None:
        stmt = stmt.where(MaintenancePlan.machine_id == machine.id)
    if not include_inactive:
        stmt = stmt.where(MaintenancePlan.active.is_(True))
    return stmt.order_by(MaintenancePlan.active.desc(), MaintenancePlan.title,
                         MaintenancePlan.id)


def open_plan_tasks(plan_ids):
    """{plan id: its open task} for a page of plans, in one query."""
    if not plan_ids:
        return {}
    tasks = db.session.scalars(select(Task).where(Task.plan_id.in_(list(plan_ids)),
                                                  Task.status != "finished")).all()
    return {t.plan_id: t for t in tasks}
