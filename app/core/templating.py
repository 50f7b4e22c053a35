"""Template filters: dates people can read."""

from datetime import UTC, datetime

from .models import as_utc


def format_datetime(value, fmt="%d %b %Y %H:%M"):
    if value is None:
        return "—"
    return as_utc(value).strftime(fmt) + " UTC"


def time_ago(value):
    if value is None:
        return "never"
    seconds = int((datetime.now(UTC) - as_utc(value)).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"
