"""What machine events look like on each user's open pages."""

from flask import render_template

from app.core.extensions import db
from app.realtime import live_renderer

from . import services
from .models import Machine


@live_renderer("machine.updated", "machine.created")
def machine_fragments(message, user, _page):
    machine = db.session.get(Machine, message.get("id"))
    if machine is None:
        return None
    visible = services.can_see_machine(user, machine)
    return render_template("machines/_live.html", machine=machine, visible=visible,
                           created=message["event"] == "machine.created")
