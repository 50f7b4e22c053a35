"""Values as people read them: numbers, yes/no words, levels, and the latest values panel."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from app.core.models import as_utc, utcnow


def boolean_words(metric):
    if metric.role == "running":
        return "Running", "Stopped"
    return "Yes", "No"


def format_number(value):
    """12,345 · 71.3 · 0.0042: no float noise, thousands grouped."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()
                                  and abs(value) < 1e15):
        return f"{int(value):,}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) < 0.01:
        return f"{value:.2g}"
    text = f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.1f}"
    return text.rstrip("0").rstrip(".")


@dataclass
class ShownValue:
    label: str
    text: str          # "71.3", "Running", "—"
    unit: str = ""
    level: str = ""    # "high", "low", "normal" or "" (no range / not a number)
    range_text: str = ""
    key: str = ""

    @property
    def level_word(self):
        return {"high": "High", "low": "Low", "normal": "Normal"}.get(self.level, "")


def show_value(metric, value):
    """One metric's value as text with its unit, and whether it is out of its normal range."""
    shown = ShownValue(metric.label, "—", metric.unit or "", key=metric.key,
                       range_text=metric.range_text)
    if value is None:
        return shown
    if metric.kind == "boolean" and isinstance(value, bool):
        shown.text = boolean_words(metric)[0 if value else 1]
        shown.unit = ""
        if metric.role == "running":
            shown.level = "running" if value else "stopped"
    elif metric.kind == "number" and isinstance(value, int | float) \
            and not isinstance(value, bool):
        shown.text = format_number(value)
        if metric.normal_max is not None and value > metric.normal_max:
            shown.level = "high"
        elif metric.normal_min is not None and value < metric.normal_min:
            shown.level = "low"
        elif metric.normal_min is not None or metric.normal_max is not None:
            shown.level = "normal"
    else:
        shown.text = str(value)
        shown.unit = ""
    return shown


def silent_after():
    """A machine not heard from for this long is 'silent' (three missed polls, ≥ 1 min)."""
    return timedelta(seconds=max(60, 3 * current_app.config.get("POLL_INTERVAL_SECONDS", 20)))


@dataclass
class LiveValues:
    """The latest values panel: rendered from the machine alone (also sent over /ws)."""

    values: list
    status: str          # "none", "reporting", "silent", "unreachable"
    status_text: str
    reading_ts: datetime | None = None
    last_seen_at: datetime | None = None
    last_changed_at: datetime | None = None
    silent_at: datetime | None = None
    last_error: str = ""

    @property
    def unchanged(self):
        """Reporting, but the values have stayed the same for longer than a silence."""
        return (self.status == "reporting" and self.last_changed_at is not None
                and self.last_seen_at - self.last_changed_at >= silent_after())

    @property
    def badge(self):
        return {"reporting": "ok", "silent": "warn", "unreachable": "bad"}.get(self.status,
                                                                              "off")


def live_values(machine, now=None):
    now = now or utcnow()
    state = machine.state
    latest = (state.values or {}) if state else {}
    values = [show_value(m, latest.get(m.key)) for m in machine.machine_type.metrics]
    if state is None or state.last_seen_at is None:
        status, text = "none", "No readings yet"
        if state is not None and state.reachable is False:
            status, text = "unreachable", "Not reachable"
        return LiveValues([], status, text, last_error=(state.last_error or "") if state else "")
    seen = as_utc(state.last_seen_at)
    silent_at = seen + silent_after()
    if state.reachable is False:
        status, text = "unreachable", "Not reachable"
    elif now >= silent_at:
        status, text = "silent", "Silent"
    else:
        status, text = "reporting", "Reporting"
    return LiveValues(values, status, text,
                      reading_ts=as_utc(state.reading_ts) if state.reading_ts else None,
                      last_seen_at=seen,
                      last_changed_at=as_utc(state.last_changed_at)
                      if state.last_changed_at else None,
                      silent_at=silent_at, last_error=state.last_error or "")
