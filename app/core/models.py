"""Shared column helpers for every domain's models."""

from datetime import UTC, datetime

from sqlalchemy import func, or_, text
from sqlalchemy.orm import declared_attr
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


class HistoryEventMixin:
    """One line of a thing's history (an alert's, a task's ...): who did what, and when.

    The subclass adds the key to what it belongs to and the columns only it has; `actor`
    is None for what Floorline did by itself.
    """

    id = db.Column(db.Integer, primary_key=True)
    at = db.Column(UTCDateTime(), nullable=False, default=utcnow)
    kind = db.Column(db.String(24), nullable=False)
    detail = db.Column(db.Text, nullable=False, default="")

    @declared_attr
    def actor_id(cls):
        return db.Column(db.ForeignKey("users.id"))

    @declared_attr
    def actor(cls):
        return db.relationship("User")


def contains_text(query, *columns):
    """Rows where any of `columns` contains what a person typed, ignoring case."""
    like = f"%{query.strip().lower()}%"
    return or_(*(func.lower(column).like(like) for column in columns))


def history(event_class, back_populates):
    """The `events` relationship of a thing with a history: oldest first, gone with it."""
    return db.relationship(event_class, back_populates=back_populates,
                           cascade="all, delete-orphan", order_by=f"{event_class}.id")


def unique_while(name, *columns, condition):
    """A unique index over the rows where `condition` (SQL) holds, e.g. only open ones."""
    return db.Index(name, *columns, unique=True, postgresql_where=text(condition),
                    sqlite_where=text(condition))


def link_table(name, left, right):
    """A many-to-many table of two keys, `left` and `right` as (column, "table.id"); rows go
    with either side, and the right key has its own index for lookups from that side."""
    (left_column, left_target), (right_column, right_target) = left, right
    return db.Table(
        name,
        db.Column(left_column, db.ForeignKey(left_target, ondelete="CASCADE"), primary_key=True),
        db.Column(right_column, db.ForeignKey(right_target, ondelete="CASCADE"),
                  primary_key=True, index=True),
    )


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
