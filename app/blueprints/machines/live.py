"""What machine events look like on each user's open pages."""

from flask import render_template
from sqlalchemy.orm import selectinload

from app.extensions import db
from app.realtime import live_renderer, live_resync

from . import services
from .models import Machine, MachineType


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


@live_resync("tiles")
def resync_tiles(user, _arg):
    """A (re)connecting plant page gets every tile's current state, not a gap."""
    machines = _load(db.session.scalars(services.visible_machines(user).with_only_columns(
        Machine.id)).all(), user)
    return _telemetry(machines, "tiles")


@live_resync("machine")
def resync_machine(user, arg):
    machines = _load([int(arg)] if arg.isdigit() else [], user)
    return _telemetry(machines, f"machine:{arg}")
