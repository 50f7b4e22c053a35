"""Shared column helpers for every domain's models."""

from datetime import UTC, datetime

from sqlalchemy.types import DateTime, TypeDecorator

from .extensions import db


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in and out on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

# One priority scale for issues, andon calls and tasks, so they sort and read alike.
PRIORITIES = (("low", "Low"), ("medium", "Medium"), ("high", "High"), ("critical", "Critical"))


def as_utc(value):
    """A naive datetime read as UTC (SQLite, devices without a zone); aware ones as they are."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def utcnow():
    return datetime.now(UTC)


class TimestampMixin:
    created_at = db.Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime(), nullable=False, default=utcnow,
                           onupdate=utcnow)


class ChoiceLabel:
    """`status_label = ChoiceLabel("status", STATUSES)`: the words for a coded column (the
    code itself when a row holds one the list no longer has)."""

    def __init__(self, attribute, choices):
        self.attribute, self.labels = attribute, dict(choices)

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = getattr(obj, self.attribute)
        return self.labels.get(value, value)
