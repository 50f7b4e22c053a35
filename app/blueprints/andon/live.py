"""Andon on every screen: the banner, the board, the tablet screens, kept live.

One event, `andon.changed` (raised, acknowledged, escalated, resolved), published after
commit with the call's id. Each socket gets the banner again if the call's machine is one
its user may see, plus the piece of the page it has open (its ?resync= value): the board
("andon"), a machine's andon screen ("andon-machine:<id>"), a line screen
("andon-line:<id>"), the call's page ("andon-call:<id>") or the machine page
("machine:<id>").
"""

from flask import render_template
from flask_login import current_user

from app.blueprints.machines.models import Machine
from app.blueprints.machines.services import visible_machines
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_global, live_renderer, live_resync

from . import bp, services
from .access import RAISERS, can_answer, can_raise, can_see_call
from .models import ANDON_KINDS, AndonCall

# --- what templates ask for ------------------------------------------------------------------


@bp.app_template_global("andon_banner_calls")
def andon_banner_calls(user=None):
    return services.banner_calls(user or current_user)


@bp.app_template_global("andon_calls_of")
def andon_calls_of(machine, user=None):
    return services.active_calls(user or current_user, [machine.id])


@bp.app_template_global("andon_can_answer")
def andon_can_answer(call, user=None):
    return can_answer(user or current_user, call)


@bp.app_template_global("andon_can_raise")
def andon_can_raise(machine, user=None):
    return can_raise(user or current_user, machine)


@bp.app_template_global("andon_may_raise")
def andon_may_raise(user=None):
    return (user or current_user).role in RAISERS


# --- fragments --------------------------------------------------------------------------------

def banner(user, oob=True):
    return render_template("andon/_banner.html", user=user, oob=oob,
                           banner=services.banner_calls(user))


def board(user):
    return render_template("andon/_board.html", user=user, oob=True,
                           calls=services.active_calls(user),
                           resolved=services.recently_resolved(user))


def machine_calls(user, machine_id):
    return render_template("andon/_machine_calls.html", user=user, oob=True,
                           machine_id=machine_id,
                           calls=services.active_calls(user, [machine_id]))


def machine_panel(user, machine):
    return render_template("andon/_machine.html", user=user, oob=True, machine=machine)


def line_machine(user, machine):
    return render_template("andon/_line_machine.html", user=user, oob=True,
                           machine=machine, calls=services.active_calls(user, [machine.id]),
                           kinds=ANDON_KINDS)


def call_detail(user, call):
    return render_template("andon/_call_detail.html", user=user, oob=True, call=call,
                           may_answer=can_answer(user, call))


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
