"""The machine page's panels.

The machine page lives in `machines`, below the domains that know most about a machine:
its latest values and history (telemetry), andon calls, alerts and maintenance. Those
domains register a panel here when their package is imported; the page renders what is
registered, slot by slot and in order, and never names them.

A panel is `fn(machine, user, **context) -> html`; `context` is what the page's URL asked
for (e.g. the history section), the same for every panel. The same registry holds the
machine's tile, which machine events redraw on plant walls.
"""

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

# Where panels go on the page, top to bottom: below the heading, the "what the floor is
# doing about it" row, the history tabs.
PAGE_SLOTS = ("values", "reactions", "history")
# The machine's tile on plant walls: machine events redraw it (machines/live.py).
TILE = "tile"
SLOTS = (*PAGE_SLOTS, TILE)

_PANELS = []


@dataclass(frozen=True)
class Panel:
    slot: str
    order: int
    render: Callable


def machine_panel(slot, order):
    """Register the decorated function as a panel in `slot` (lower `order` comes first)."""
    if slot not in SLOTS:
        raise ValueError(f"unknown machine page slot {slot!r}")

    def register(render):
        if not any(p.render is render for p in _PANELS):
            _PANELS.append(Panel(slot, order, render))
            _PANELS.sort(key=lambda p: p.order)
        return render
    return register


def render_slot(slot, machine, user, **context):
    return Markup("\n".join(p.render(machine, user, **context)
                            for p in _PANELS if p.slot == slot))


def render_panels(machine, user, **context):
    """{slot: html} for the whole page."""
    return {slot: render_slot(slot, machine, user, **context) for slot in PAGE_SLOTS}
