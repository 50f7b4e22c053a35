"""Shared column helpers for every domain's models."""

from datetime import UTC, datetime

from sqlalchemy.types import DateTime, TypeDecorator

from app.extensions import db


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


def as_utc(value):
    """A naive datetime read as UTC (SQLite, devices without a zone); aware ones as they are."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def utcnow():
    return datetime.now(UTC)


class TimestampMixin:
    created_at = db.Column(UTCDateTime(), nullable=False, default=utcnow)
    updated_at = db.Column(UTCDateTime(), nullable=False, default=utcnow,
                           onupdate=utcnow)
