"""What machine events look like on each user's open pages."""

from flask import render_template

from app.core.extensions import db
from app.realtime import live_renderer

from . import services
from .models import Machine
from .panels import TILE, render_slot


@live_renderer("machine.updated", "machine.created")
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
