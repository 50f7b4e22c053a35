"""Andon on every screen: the banner, the board, the tablet screens, kept live.

One event, `andon.changed` (raised, acknowledged, escalated, resolved), published after
commit with the call's id. Each socket gets the banner again if the call's machine is one
its user may see, plus the piece of the page it has open (its ?resync= value): the board
("andon"), a machine's andon screen ("andon-machine:<id>"), a line screen
("andon-line:<id>"), the call's page ("andon-call:<id>") or the machine page
("machine:<id>").
"""

from flask import render_template
from sqlalchemy import select

from app.blueprints.machines.live import in_scope, machine_ref
from app.blueprints.machines.models import Machine
from app.blueprints.machines.services import visible_machines
from app.core.extensions import db
from app.realtime import PER_VISIBILITY, live_global, live_renderer, live_resync
from app.realtime.json_events import JsonEvent, live_json, live_json_snapshot, person_json

from . import panels, services
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


# --- JSON for the API's socket ----------------------------------------------------------

def call_json(call):
    """A call as GET /api/v1/andon/events/{id} shows it, without its history (the same fields)."""
    return {"id": call.id, "machine": machine_ref(call.machine),
            "kind": call.kind, "priority": call.priority, "status": call.status,
            "note": call.note, "has_photo": bool(call.photo_name),
            "raised_by": person_json(call.raised_by), "raised_at": call.raised_at,
            "acknowledged_at": call.acknowledged_at,
            "acknowledged_by": person_json(call.acknowledged_by),
            "resolved_at": call.resolved_at, "resolved_by": person_json(call.resolved_by),
            "resolution_note": call.resolution_note, "ack_level": call.ack_level,
            "resolve_level": call.resolve_level, "updated_at": call.updated_at}


@live_json("andon.changed")
def andon_event(message, user):
    """A call raised, acknowledged, escalated or resolved."""
    call = db.session.get(AndonCall, message.get("id"))
    if call is None or not can_see_call(user, call):
        return None
    return [JsonEvent("andon_event", call_json(call), call.machine_id, call.machine.line_id)]


@live_json_snapshot("andon_events")
def active_calls_snapshot(user, scope):
    """The calls not resolved yet, the longest waiting first."""
    ids = None if scope.kind == "plant" else select(Machine.id).where(
        in_scope(Machine.id, scope))
    return [call_json(call) for call in services.active_calls(user, ids)]
