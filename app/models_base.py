"""Shared column helpers for every domain's models."""

from datetime import UTC, datetime

from app.extensions import db


def utcnow():
    return datetime.now(UTC)


class TimestampMixin:
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow,
                           onupdate=utcnow)
