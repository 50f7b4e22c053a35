"""New readings on each user's open pages: tiles, and the machine page's values."""

from flask import render_template
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.blueprints.machines import services
from app.blueprints.machines.models import Machine, MachineType
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_renderer, live_resync

from . import tile_cache
from .models import MachineState
from .panels import values_context


def _visible_ids(ids, user):
    return services.visible_machines(user).with_only_columns(Machine.id).where(
        Machine.id.in_(ids))


def _load(ids, user):
    stmt = services.visible_machines(user).where(Machine.id.in_(ids)).options(
        selectinload(Machine.state), selectinload(Machine.line),
        selectinload(Machine.machine_type).selectinload(MachineType.metrics))
    return db.session.scalars(stmt.order_by(Machine.code)).all()


def _telemetry(ids, user, page):
    """Tiles for pages of tiles (shared fragments: drawn once whoever asks first); the
    latest-values panel for that machine's own page."""
    if page == "tiles":
        return tile_cache.joined(tile_cache.tile_rows(Machine.id.in_(_visible_ids(ids, user))),
                                 oob=True)
    return "".join(render_template("telemetry/_telemetry.html", values=True,
                                   **values_context(m))
                   for m in _load(ids, user) if page == f"machine:{m.id}")


@live_renderer("telemetry.updated", audience=PER_VISIBILITY)
def telemetry_fragments(message, user, page):
    """New readings: refresh what the socket's page shows of these machines."""
    ids = message.get("ids") or []
    if page.startswith("machine:"):
        ids = [i for i in ids if page == f"machine:{i}"]
    elif page != "tiles":
        return None
    return _telemetry(ids, user, page) if ids else None


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
    return _telemetry(ids, user, "tiles") if ids else ""


@live_resync("machine")
def resync_machine(user, arg, since):
    if not arg.isdigit():
        return ""
    ids = db.session.scalars(_changed_since(
        select(Machine.id).where(Machine.id == int(arg)), since)).all()
    return _telemetry(ids, user, f"machine:{arg}") if ids else ""
