"""The time range people ask for: presets or from/to in their browser's time zone.

The chart takes a closed range (a preset or a custom from/to); the readings table and the
CSV take open ends. Times typed without an offset are read in the person's zone.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.core.models import utcnow

PRESETS = {"1h": timedelta(hours=1), "8h": timedelta(hours=8), "24h": timedelta(hours=24),
           "7d": timedelta(days=7), "30d": timedelta(days=30)}
PRESET_LABELS = (("1h", "1 h"), ("8h", "8 h"), ("24h", "24 h"), ("7d", "7 d"), ("30d", "30 d"))
PRESET_TITLES = {"1h": "Last hour", "8h": "Last 8 hours", "24h": "Last 24 hours",
                 "7d": "Last 7 days", "30d": "Last 30 days"}
DEFAULT_PRESET = "8h"
CUSTOM = "custom"
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type=datetime-local> sends and shows


class RangeError(ValueError):
    """A time range or cursor people sent that cannot be used; the message says why."""


def iso_z(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def known_zone(name):
    """The zone name if it is a real one, else "" (for the remembered browser zone)."""
    try:
        return str(parse_zone(name)) if name else ""
    except RangeError:
        return ""


def parse_zone(name):
    """The browser's IANA zone (chart.js fills it in); empty means UTC."""
    name = (name or "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RangeError(f"Unknown time zone '{name[:60]}'.") from None


def parse_time(text, zone=UTC, what="time"):
    """A datetime-local value (in `zone`) or an ISO 8601 time with offset → aware UTC."""
    text = (text or "").strip()
    try:
        value = datetime.fromisoformat(text)
        return (value.replace(tzinfo=zone) if value.tzinfo is None else value).astimezone(UTC)
    except (ValueError, OverflowError):
        raise RangeError(f"The {what} '{text[:40]}' is not a date and time like "
                         "2026-11-30T08:00.") from None


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    preset: str = CUSTOM
    zone: object = UTC

    @property
    def zone_name(self):
        return "" if self.zone is UTC else str(self.zone)

    @property
    def zone_label(self):
        return self.zone_name or "UTC"

    def local_input(self, which):
        """`start` or `end` as a datetime-local value in the person's zone."""
        return getattr(self, which).astimezone(self.zone).strftime(INPUT_FORMAT)

    def iso(self, which):
        return iso_z(getattr(self, which))

    def describe(self):
        if self.preset in PRESETS:
            return PRESET_TITLES[self.preset]
        start, end = (v.astimezone(self.zone) for v in (self.start, self.end))
        end_format = "%H:%M" if start.date() == end.date() else "%d %b %Y %H:%M"
        return f"{start:%d %b %Y %H:%M} – {end.strftime(end_format)} ({self.zone_label})"

    def query_args(self):
        """The same range as readings-table / CSV arguments."""
        args = {"from": self.iso("start"), "to": self.iso("end")}
        if self.zone_name:
            args["tz"] = self.zone_name
        return args


def chart_range(args, now=None, default_zone=""):
    """The chart's range from request args: `range` = 1h/8h/24h/7d/30d, or custom from/to.

    Times without an offset are in `tz`, else in `default_zone`, else UTC.
    """
    now = now or utcnow()
    zone = parse_zone(args.get("tz") or default_zone)
    preset = (args.get("range") or DEFAULT_PRESET).strip()
    if preset in PRESETS:
        return TimeRange(now - PRESETS[preset], now, preset, zone)
    if preset != CUSTOM:
        raise RangeError(f"Unknown range '{preset[:20]}': choose 1 h, 8 h, 24 h, 7 d, 30 d "
                         "or a custom range.")
    if not (args.get("from") or "").strip():
        raise RangeError("Choose when the custom range starts (From).")
    start = parse_time(args.get("from"), zone, "start")
    end = parse_time(args["to"], zone, "end") if (args.get("to") or "").strip() else now
    if start >= end:
        raise RangeError("The start of the range must be before its end.")
    return TimeRange(start, end, CUSTOM, zone)


def optional_range(args, default_zone=""):
    """(start or None, end or None, zone) for the readings table and the CSV: open ends."""
    zone = parse_zone(args.get("tz") or default_zone)
    start = parse_time(args["from"], zone, "start") if (args.get("from") or "").strip() else None
    end = parse_time(args["to"], zone, "end") if (args.get("to") or "").strip() else None
    if start and end and start >= end:
        raise RangeError("The start of the range must be before its end.")
    return start, end, zone
