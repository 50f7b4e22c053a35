"""What a machine tile says: one word for its state, its key values and a trend line."""

from dataclasses import dataclass, field

from .live_values import LiveValues, live_values

REGISTRY_WORDS = {"maintenance": ("Under maintenance", "warn"),
                  "commissioning": ("Commissioning", "info"), "retired": ("Retired", "off")}
LIVE_WORDS = {"none": ("No data yet", "off"), "unreachable": ("Unreachable", "bad"),
              "silent": ("Silent", "warn")}


@dataclass
class TileState:
    word: str
    badge: str
    css: str
    values: list = field(default_factory=list)
    sparkline: str = ""
    trend_label: str = ""
    live: LiveValues | None = None


def _running_word(live):
    flag = next((v for v in live.values if v.level in ("running", "stopped")), None)
    if flag is None:
        return "Reporting", "ok"
    return ("Running", "ok") if flag.level == "running" else ("Stopped", "warn")


def sparkline(values, width=100, height=24):
    """SVG polyline points for a list of numbers, scaled into the box (empty if < 2)."""
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < 2:
        return ""
    low, high = min(numbers), max(numbers)
    span = (high - low) or 1
    step = width / (len(numbers) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
                    for i, v in enumerate(numbers))


def tile_state(machine, live=None):
    """What telemetry/_tile.html shows of `machine` (pages and /ws render it from this)."""
    live = live or live_values(machine)
    if machine.status in REGISTRY_WORDS:
        word, badge = REGISTRY_WORDS[machine.status]
    elif live.status in LIVE_WORDS:
        word, badge = LIVE_WORDS[live.status]
    else:
        word, badge = _running_word(live)
    keys = [m.key for m in machine.machine_type.tile_metrics]
    by_key = {v.key: v for v in live.values}
    values = [by_key[k] for k in keys if k in by_key]
    if any(v.level in ("high", "low") for v in values) and badge == "ok":
        badge = "bad"
    trend_metric = machine.machine_type.trend_metric
    state = machine.state
    return TileState(word, badge, badge, values,
                     sparkline(state.trend if state else []),
                     trend_metric.label if trend_metric else "", live)


def tiles_of(machines):
    """{machine id: TileState} for a page of tiles."""
    return {m.id: tile_state(m) for m in machines}
