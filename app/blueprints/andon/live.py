"""Andon on every screen: the banner, the board, the tablet screens, kept live.

One event, `andon.changed` (raised, acknowledged, escalated, resolved), published after
commit with the call's id. Each socket gets the banner again if the call's machine is one
its user may see, plus the piece of the page it has open (its ?resync= value): the board
("andon"), a machine's andon screen ("andon-machine:<id>"), a line screen
("andon-line:<id>"), the call's page ("andon-call:<id>") or the machine page
("machine:<id>").
"""

from flask import render_template

from app.blueprints.machines.models import Machine
from app.blueprints.machines.services import visible_machines
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_global, live_renderer, live_resync

from . import panels
from .access import can_see_call
from .models import AndonCall

# --- fragments (their contexts are built in panels.py, as the pages build them) ------------

def banner(user, oob=True):
    return render_template("andon/_banner.html", **panels.banner_context(user, oob))


def board(user):
    return render_template("andon/_board.html", oob=True, **panels.board_context(user))


def machine_calls(user, machine_id):
    return render_template("andon/_machine_calls.html", oob=True,
                           **panels.machine_calls_context(user, machine_id))


def machine_panel(user, machine):
    return render_template("andon/_machine.html", oob=True,
                           **panels.machine_panel_context(user, machine))


def line_machine(user, machine):
    return render_template("andon/_line_machine.html", oob=True,
                           **panels.line_machine_context(user, machine))


def call_detail(user, call):
    return render_template("andon/_call_detail.html", oob=True,
                           **panels.call_detail_context(user, call))


def _page_piece(call, user, page):
    machine = call.machine
    if page == "andon":
        return board(user)
    if page == f"andon-machine:{machine.id}":
        return machine_calls(user, machine.id)
    if machine.line_id is not None and page == f"andon-line:{machine.line_id}":
        return line_machine(user, machine)
    if page == f"andon-call:{call.id}":
        return call_detail(user, call)
    if page == f"machine:{machine.id}":
        return machine_panel(user, machine)
    return ""


@live_renderer("andon.changed", audience=PER_VISIBILITY)
def andon_fragments(message, user, page):
    call = db.session.get(AndonCall, message.get("id"))
    if call is None or not can_see_call(user, call):
        return None
    return banner(user) + _page_piece(call, user, page)


@live_global
def resync_banner(user, _since):
    """Every (re)connecting screen shows the calls waiting now, whatever it missed."""
    return banner(user)


@live_resync("andon")
def resync_board(user, _arg, _since):
    return board(user)


@live_resync("andon-machine")
def resync_machine_screen(user, arg, _since):
    return machine_calls(user, int(arg)) if arg.isdigit() else ""


@live_resync("andon-call")
def resync_call(user, arg, _since):
    call = db.session.get(AndonCall, int(arg)) if arg.isdigit() else None
    if call is None or not can_see_call(user, call):
        return ""
    return call_detail(user, call)


@live_resync("andon-line")
def resync_line(user, arg, _since):
    if not arg.isdigit():
        return ""
    machines = db.session.scalars(visible_machines(user).where(Machine.line_id == int(arg))
                                  .order_by(Machine.code)).all()
    return "".join(line_machine(user, m) for m in machines)
