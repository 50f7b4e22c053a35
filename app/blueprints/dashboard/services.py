"""Read-only summaries for the home pages."""

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.blueprints.auth.models import User
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Line, Machine, MachineType, line_operators, machine_operators
from app.blueprints.telemetry.models import PollCycle
from app.core.extensions import db
from app.core.models import utcnow

# Everything a tile shows, loaded in a fixed number of queries however many machines.
TILE_LOAD = (selectinload(Machine.state),
             selectinload(Machine.machine_type).selectinload(MachineType.metrics))


def my_machines(user):
    stmt = machine_services.visible_machines(user).options(
        *TILE_LOAD, selectinload(Machine.line)).order_by(Machine.code)
    return db.session.scalars(stmt).all()


def plant_summary():
    """Counts for the manager's plant page, each one query."""
    by_status = dict(db.session.execute(
        select(Machine.status, func.count()).group_by(Machine.status)).all())
    people = dict(db.session.execute(
        select(User.role, func.count()).where(User.active.is_(True)).group_by(User.role)).all())
    pending = db.session.scalar(select(func.count()).select_from(User).where(
        User.active.is_(True), User.must_change_password.is_(True)))
    return {"machines": sum(by_status.values()), "by_status": by_status, "people": people,
            "pending_logins": pending}


def plant_by_line():
    """Every line with its machines, then the machines on no line."""
    lines = db.session.scalars(select(Line).options(
        selectinload(Line.machines).options(*TILE_LOAD),
        selectinload(Line.operators)).order_by(Line.name)).all()
    loose = db.session.scalars(select(Machine).where(Machine.line_id.is_(None)).options(
        *TILE_LOAD).order_by(Machine.code)).all()
    return lines, loose


def unstaffed_machines():
    """Machines nobody is assigned to, directly or through their line (one query)."""
    direct = select(machine_operators.c.machine_id).where(
        machine_operators.c.machine_id == Machine.id).exists()
    via_line = select(line_operators.c.line_id).where(
        line_operators.c.line_id == Machine.line_id).exists()
    return db.session.scalars(select(Machine).where(
        Machine.status != "retired", ~direct, ~via_line).order_by(Machine.code)).all()


def last_poll():
    """The latest poll cycle that ran, and how many were skipped in the last hour."""
    cycle = db.session.scalars(select(PollCycle).where(PollCycle.skipped.is_(False))
                               .order_by(PollCycle.started_at.desc()).limit(1)).first()
    skipped = db.session.scalar(select(func.count()).select_from(PollCycle).where(
        PollCycle.skipped.is_(True), PollCycle.started_at >= utcnow() - timedelta(hours=1)))
    return cycle, skipped
