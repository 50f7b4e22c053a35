"""Telemetry's panels on the machine page (latest values, history) and the machine's tile,
registered with machines.panels. Pages and /ws build each partial's context here, so they
cannot drift apart."""

from flask import render_template

from app.blueprints.machines.panels import TILE, machine_panel

from . import tile_cache
from .live_values import live_values
from .views import default_chart


def values_context(machine):
    return {"machine": machine, "live": live_values(machine)}


@machine_panel("values", 10)
def latest_values(machine, _user, **_context):
    return render_template("telemetry/_live_values.html", **values_context(machine))


@machine_panel("history", 10)
def history_section(machine, _user, section="chart", **context):
    """The chart (the last 8 hours unless the URL asked for more) or the readings table."""
    if section == "chart" and "chart" not in context:
        context["chart"] = default_chart(machine)
    return render_template("telemetry/_history.html", machine=machine, section=section,
                           **context)


@machine_panel(TILE, 10)
def tile(machine, _user, oob=False, **_context):
    return tile_cache.tiles_html([machine.id], oob=oob).get(machine.id, "")
