"""What machine events look like on each user's open pages, and which machines a user sees
(so the live fan-out can render once for users who see the same)."""

from flask import render_template
from sqlalchemy import select, true, union

from app.blueprints.auth import roles
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_renderer, live_visibility

from . import services
from .models import Line, Machine, line_operators, machine_operators
from .panels import TILE, render_slot


@live_renderer("machine.updated", "machine.created", audience=PER_VISIBILITY, by_page=False)
def machine_fragments(message, user, _page):
    machine = db.session.get(Machine, message.get("id"))
    if machine is None:
        return None
    visible = services.can_see_machine(user, machine)
    created = message["event"] == "machine.created"
    # The tile is telemetry's: it registered how to draw it.
    tile = render_slot(TILE, machine, user, oob=True) if visible and not created else ""
    return render_template("machines/_live.html", machine=machine, visible=visible,
                           created=created, tile=tile)


@live_visibility
def machines_seen(users):
    """{user_id: frozenset of machine ids} for machine-bound users (their own machines,
    directly or through their line, as in services.visible_machines); None for everyone
    else, who sees the whole plant. One query for all of them."""
    bound = [user.id for user in users if user.role in roles.MACHINE_BOUND]
    seen = {user_id: set() for user_id in bound}
    if bound:
        direct = select(machine_operators.c.user_id, machine_operators.c.machine_id).where(
            machine_operators.c.user_id.in_(bound))
        via_line = select(line_operators.c.user_id, Machine.id).join(
            Machine, Machine.line_id == line_operators.c.line_id).where(
            line_operators.c.user_id.in_(bound))
        for user_id, machine_id in db.session.execute(union(direct, via_line)):
            seen[user_id].add(machine_id)
    return {user.id: frozenset(seen[user.id]) if user.id in seen else None for user in users}


# --- for the JSON socket (/api/v1/ws): the pieces other domains' JSON events share --------

def machine_ref(machine):
    return {"id": machine.id, "code": machine.code, "name": machine.name}


def line_ref(line):
    return {"id": line.id, "code": line.code, "name": line.name} if line else None


def in_scope(machine_id_column, scope):
    """A where clause keeping rows whose machine lies in a socket's scope (realtime.Scope:
    the plant, a line or a machine)."""
    if scope.kind == "line":
        return machine_id_column.in_(select(Machine.id).where(Machine.line_id == scope.id))
    if scope.kind == "machine":
        return machine_id_column == scope.id
    return true()


def lines_in_scope(scope):
    """The lines a scope covers: every line, the line, or the machine's line."""
    stmt = select(Line).order_by(Line.code)
    if scope.kind == "line":
        return stmt.where(Line.id == scope.id)
    if scope.kind == "machine":
        return stmt.where(Line.id.in_(select(Machine.line_id).where(Machine.id == scope.id)))
    return stmt
