"""Read-only summaries for the home pages."""

from datetime import timedelta

from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.blueprints.auth.models import User
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Line, Machine, line_operators, machine_operators
from app.blueprints.telemetry import tile_cache
from app.blueprints.telemetry.models import PollCycle
from app.core.extensions import db
from app.core.models import utcnow


def my_machines(user):
    stmt = machine_services.visible_machines(user).options(
        selectinload(Machine.line)).order_by(Machine.code)
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


def plant_lines():
    """Every line with its department and operators, by name."""
    return db.session.scalars(select(Line).options(
        selectinload(Line.department), selectinload(Line.operators)).order_by(Line.name)).all()


def plant_grids():
    """{line id, or None for machines on no line: their tiles, in code order}. The tiles
    come from the shared fragment cache: one query and one Redis read for the plant."""
    rows = tile_cache.tile_rows()
    raw = tile_cache.fragments(rows)
    parts = {}
    for row in rows:
        if row.id in raw:  # not deleted meanwhile
            parts.setdefault(row.line_id, []).append(
                tile_cache.finish(raw[row.id], row.last_seen_at))
    return {line_id: Markup("".join(html)) for line_id, html in parts.items()}


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
