"""What machine events look like on each user's open pages."""

from flask import render_template
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.realtime import live_renderer, live_resync

from . import services
from .models import Machine, MachineState, MachineType


def _load(ids, user):
    stmt = services.visible_machines(user).where(Machine.id.in_(ids)).options(
        selectinload(Machine.state), selectinload(Machine.line),
        selectinload(Machine.machine_type).selectinload(MachineType.metrics))
    return db.session.scalars(stmt.order_by(Machine.code)).all()


@live_renderer("machine.updated", "machine.created")
def machine_fragments(message, user, _page):
    machine = db.session.get(Machine, message.get("id"))
    if machine is None:
        return None
    visible = services.can_see_machine(user, machine)
    return render_template("machines/_live.html", machine=machine, visible=visible,
                           created=message["event"] == "machine.created")


def _telemetry(machines, page):
    """Tiles for pages of tiles; the latest-values panel for that machine's own page."""
    return "".join(render_template("machines/_telemetry.html", machine=m,
                                   tiles=page == "tiles", values=page == f"machine:{m.id}")
                   for m in machines)


@live_renderer("telemetry.updated")
def telemetry_fragments(message, user, page):
    """New readings: refresh what the socket's page shows of these machines."""
    ids = message.get("ids") or []
    if page.startswith("machine:"):
        ids = [i for i in ids if page == f"machine:{i}"]
    elif page != "tiles":
        return None
    return _telemetry(_load(ids, user), page) if ids else None


def _changed_since(stmt, since):
    """Only machines heard from (or polled) after `since`; all of them without one."""
    if since is None:
        return stmt
    return stmt.join(MachineState, MachineState.machine_id == Machine.id).where(
        or_(MachineState.last_seen_at > since, MachineState.last_polled_at > since))


@live_resync("tiles")
def resync_tiles(user, _arg, since):
    """A (re)connecting plant page gets the current state of tiles changed since it was
    drawn, not a gap."""
    ids = db.session.scalars(_changed_since(
        services.visible_machines(user).with_only_columns(Machine.id), since)).all()
    return _telemetry(_load(ids, user), "tiles") if ids else ""


@live_resync("machine")
def resync_machine(user, arg, since):
    if not arg.isdigit():
        return ""
    ids = db.session.scalars(_changed_since(
        select(Machine.id).where(Machine.id == int(arg)), since)).all()
    return _telemetry(_load(ids, user), f"machine:{arg}") if ids else ""
