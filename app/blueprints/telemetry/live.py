"""New readings on each user's open pages (tiles, the machine page's values), and as JSON
for the API's socket: `equipment_status_update` and `line_status_update`."""

from collections import Counter

from flask import render_template
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.machines import services
from app.blueprints.machines.live import in_scope, line_ref, lines_in_scope
from app.blueprints.machines.models import Line, Machine, MachineType
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_renderer, live_resync
from app.realtime.json_events import JsonEvent, live_json, live_json_snapshot

from . import tile_cache
from .live_values import live_values
from .models import MachineState
from .panels import values_context


def _visible_ids(ids, user):
    return services.visible_machines(user).with_only_columns(Machine.id).where(
        Machine.id.in_(ids))


def _load(ids, user):
    return _load_where(user, Machine.id.in_(ids))


def _load_where(user, *where):
    stmt = services.visible_machines(user).where(*where).options(
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


# --- JSON for the API's socket ----------------------------------------------------------

CONNECTIVITY = ("reporting", "silent", "unreachable", "none")


def equipment_json(machine):
    """A machine's live state: the shape of GET /api/v1/equipment/{code}/status, and the
    data of an `equipment_status_update`."""
    live = live_values(machine)
    latest = (machine.state.values or {}) if machine.state else {}
    return {"id": machine.id, "code": machine.code, "name": machine.name,
            "status": machine.status, "line": line_ref(machine.line),
            "connectivity": live.status, "last_seen_at": live.last_seen_at,
            "reading_ts": live.reading_ts, "last_error": live.last_error,
            "metrics": [{"key": v.key, "label": v.label, "unit": v.unit, "level": v.level,
                         "value": latest.get(v.key)} for v in live.values]}


def line_status_json(line, machines):
    """A line by its machines' connectivity: `running` (all reporting), `partial`,
    `stopped` (none reporting) or `empty` (no machines the user sees)."""
    counts = Counter(live_values(m).status for m in machines)
    reporting = counts["reporting"]
    status = ("empty" if not machines else "running" if reporting == len(machines)
              else "stopped" if reporting == 0 else "partial")
    return {"line": line_ref(line), "status": status, "machines": len(machines),
            "connectivity": {key: counts[key] for key in CONNECTIVITY},
            "machine_ids": [m.id for m in machines]}


def _line_statuses(user, lines):
    """Each line's status over the machines `user` sees on it; a machine-bound user gets
    only the lines where they see a machine."""
    by_line = {line.id: [] for line in lines}
    for machine in _load_where(user, Machine.line_id.in_(list(by_line))) if lines else ():
        by_line[machine.line_id].append(machine)
    whole_plant = user.role not in roles.MACHINE_BOUND
    return [line_status_json(line, by_line[line.id]) for line in lines
            if by_line[line.id] or whole_plant]


def _line_events(user, line_ids):
    lines = db.session.scalars(select(Line).where(Line.id.in_(line_ids))
                               .order_by(Line.code)).all() if line_ids else []
    return [JsonEvent("line_status_update", data, line_id=data["line"]["id"])
            for data in _line_statuses(user, lines)]


@live_json("telemetry.updated", "machine.updated", "machine.created")
def equipment_events(message, user):
    """New readings, a machine going silent or unreachable, an edited machine: its state,
    and the status of the lines it is on."""
    ids = message.get("ids") or [message.get("id")]
    machines = _load(ids, user)
    events = [JsonEvent("equipment_status_update", equipment_json(m), m.id, m.line_id)
              for m in machines]
    return events + _line_events(user, {m.line_id for m in machines if m.line_id})


@live_json("line.updated")
def line_events(message, user):
    return _line_events(user, {message.get("id")})


@live_json_snapshot("machines")
def machines_snapshot(user, scope):
    return [equipment_json(m) for m in _load_where(user, in_scope(Machine.id, scope))]


@live_json_snapshot("lines")
def lines_snapshot(user, scope):
    return _line_statuses(user, db.session.scalars(lines_in_scope(scope)).all())
