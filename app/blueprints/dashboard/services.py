"""Read-only summaries for the home pages."""

from dataclasses import dataclass
from datetime import timedelta

from markupsafe import Markup
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.orm import selectinload

from app.blueprints.auth.models import User
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import (
    Department,
    Line,
    Machine,
    line_operators,
    machine_operators,
)
from app.blueprints.telemetry import tile_cache
from app.blueprints.telemetry.models import PollCycle
from app.core.extensions import db
from app.core.models import utcnow


def my_machines(user):
    stmt = machine_services.visible_machines(user).options(
        selectinload(Machine.line)).order_by(Machine.code)
    return db.session.scalars(stmt).all()


def plant_summary():
    """Counts for the manager's plant page, in one round trip."""
    by_status = select(literal("status"), Machine.status, func.count()).group_by(Machine.status)
    people = select(literal("role"), User.role, func.count()).where(
        User.active.is_(True)).group_by(User.role)
    pending = select(literal("pending"), literal(""), func.count()).select_from(User).where(
        User.active.is_(True), User.must_change_password.is_(True))
    counts = {"status": {}, "role": {}, "pending": {}}
    for kind, key, count in db.session.execute(union_all(by_status, people, pending)):
        counts[kind][key] = count
    return {"machines": sum(counts["status"].values()), "by_status": counts["status"],
            "people": counts["role"], "pending_logins": counts["pending"].get("", 0)}


@dataclass
class PlantLine:
    id: int
    code: str
    name: str
    department: str
    operators: list  # display names


def plant_lines():
    """Every line with its department's name and its operators' names, by name (two Core
    queries, however many lines)."""
    operators = {}
    for line_id, full_name, username in db.session.execute(
            select(line_operators.c.line_id, User.full_name, User.username)
            .join(User, User.id == line_operators.c.user_id).order_by(User.username)):
        operators.setdefault(line_id, []).append(full_name or username)
    rows = db.session.execute(select(Line.id, Line.code, Line.name, Department.name)
                              .outerjoin(Department, Department.id == Line.department_id)
                              .order_by(Line.name))
    return [PlantLine(i, code, name, department or "", operators.get(i, []))
            for i, code, name, department in rows]


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
