"""What a machine tile says: one word for its state, its key values and a trend line.

A tile is built from plain row values (tile_cache.py loads them with one Core query), so
the plant page and the live fan-out draw hundreds without loading ORM objects.
"""

from dataclasses import dataclass, field
from datetime import datetime

from app.core.models import as_utc

from .live_values import show_value, silent_after

REGISTRY_WORDS = {"maintenance": ("Under maintenance", "warn"),
                  "commissioning": ("Commissioning", "info"), "retired": ("Retired", "off")}
LIVE_WORDS = {"none": ("No data yet", "off"), "unreachable": ("Unreachable", "bad"),
              "silent": ("Silent", "warn")}
# Where a tile says how long ago the machine was heard from: that text changes with every
# reading and every minute while the rest of the tile does not, so cached tiles keep this
# marker and each page fills it in. An HTML comment: nothing a user types can make one,
# since "<" is always escaped.
SEEN_MARK = "<!--seen-->"


@dataclass(frozen=True)
class MetricFacts:
    """What show_value reads of a metric, as plain attributes: hundreds of tiles read
    them, and an ORM attribute costs several times a plain one."""

    key: str
    label: str
    unit: str
    kind: str
    normal_min: float | None
    normal_max: float | None
    role: str | None
    range_text: str

    @classmethod
    def of(cls, metric):
        return cls(metric.key, metric.label, metric.unit, metric.kind, metric.normal_min,
                   metric.normal_max, metric.role, metric.range_text)


@dataclass
class TypeFacts:
    """What every tile of one machine type shares, worked out once per type."""

    name: str
    tile_metrics: list
    trend_label: str
    running: MetricFacts | None = None   # the metric with role "running", if any

    @classmethod
    def of(cls, machine_type):
        trend = machine_type.trend_metric
        running = machine_type.metric_with_role("running")
        return cls(machine_type.name, [MetricFacts.of(m) for m in machine_type.tile_metrics],
                   trend.label if trend else "", running and MetricFacts.of(running))


@dataclass
class Tile:
    """One tile as telemetry/_tile.html draws it."""

    id: int
    code: str
    name: str
    href: str
    word: str
    badge: str
    values: list = field(default_factory=list)
    sparkline: str = ""
    trend_label: str = ""
    last_seen_at: datetime | None = None
    type_name: str = ""
    location: str = ""
    seen_marker: str = SEEN_MARK


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


def silent_before(now):
    """A machine last seen at or before this is silent (live_values.silent_after)."""
    return now - silent_after()


def live_status(last_seen_at, reachable, cutoff):
    """none, unreachable, silent or reporting, as the latest values panel says it;
    `cutoff` is silent_before(now)."""
    if reachable is False:
        return "unreachable"
    if last_seen_at is None:
        return "none"
    return "silent" if as_utc(last_seen_at) <= cutoff else "reporting"


def _word(status, live, values, running):
    if status in REGISTRY_WORDS:
        return REGISTRY_WORDS[status]
    if live in LIVE_WORDS:
        return LIVE_WORDS[live]
    if running is None or running.level not in ("running", "stopped"):
        return "Reporting", "ok"
    return ("Running", "ok") if running.level == "running" else ("Stopped", "warn")


def build_tile(row, facts, href, cutoff):
    """A Tile from one row of tile_cache's query (machine columns + its state's);
    `cutoff` is silent_before(now)."""
    live = live_status(row.last_seen_at, row.reachable, cutoff)
    latest = row.values or {}
    shown = row.last_seen_at is not None
    values = [show_value(m, latest.get(m.key)) for m in facts.tile_metrics] if shown else []
    running = (show_value(facts.running, latest.get(facts.running.key))
               if shown and facts.running is not None else None)
    word, badge = _word(row.status, live, values, running)
    if badge == "ok" and any(v.level in ("high", "low") for v in values):
        badge = "bad"
    return Tile(row.id, row.code, row.name, href, word, badge, values,
                sparkline(row.trend or []), facts.trend_label,
                as_utc(row.last_seen_at) if row.last_seen_at else None,
                facts.name, row.location or "")

