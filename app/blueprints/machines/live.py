"""What machine events look like on each user's open pages, and which machines a user sees
(so the live fan-out can render once for users who see the same)."""

from flask import render_template
from sqlalchemy import select, union

from app.blueprints.auth import roles
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_renderer, live_visibility

from . import services
from .models import Machine, line_operators, machine_operators
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
