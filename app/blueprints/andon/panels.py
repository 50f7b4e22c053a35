"""What andon's partials are drawn from, and where andon shows outside its own pages.

Each `*_context` builds one partial's context; the page views and the /ws renderers
(live.py) both use it, so a page and its live update cannot drift apart. Andon adds its
banner to every page (core.layout) and a panel to the machine page (machines.panels).
"""

from flask import render_template

from app.blueprints.machines.panels import machine_panel
from app.core.layout import layout_piece

from . import services
from .access import can_answer, can_raise
from .models import ANDON_KINDS


def banner_context(user, oob=True):
    return {"user": user, "oob": oob, "banner": services.banner_calls(user)}


def _answerable(user, calls):
    """{call id: whether `user` may answer it}, for the answer buttons of each card."""
    return {call.id: can_answer(user, call) for call in calls}


def board_context(user):
    calls = services.active_calls(user)
    return {"user": user, "calls": calls, "answerable": _answerable(user, calls),
            "resolved": services.recently_resolved(user)}


def machine_calls_context(user, machine_id, calls=None):
    """The calls on a machine's andon screen; `calls` when the view has them already."""
    calls = services.active_calls(user, [machine_id]) if calls is None else calls
    return {"user": user, "machine_id": machine_id, "calls": calls,
            "answerable": _answerable(user, calls)}


def machine_panel_context(user, machine):
    return {"user": user, "machine": machine,
            "calls": services.active_calls(user, [machine.id]),
            "may_raise_here": can_raise(user, machine)}


def line_machine_context(user, machine, calls=None):
    """One machine on a line screen; `calls` when the view has them already."""
    calls = services.active_calls(user, [machine.id]) if calls is None else calls
    return {"user": user, "machine": machine, "calls": calls, "kinds": ANDON_KINDS,
            "may_raise_here": can_raise(user, machine)}


def call_detail_context(user, call):
    return {"user": user, "call": call, "may_answer": can_answer(user, call),
            "may_raise_here": can_raise(user, call.machine)}


@layout_piece(10)
def banner(user):
    return render_template("andon/_banner.html", **banner_context(user, oob=False))


@machine_panel("reactions", 10)
def machine_andon(machine, user, **_context):
    return render_template("andon/_machine.html", **machine_panel_context(user, machine))
