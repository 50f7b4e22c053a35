"""Downtime: opened and closed by the domains that know a machine stopped."""

from sqlalchemy import select

from app.core.extensions import db
from app.core.models import utcnow

from .models import Downtime


def open_downtime(machine, source, reason="", issue=None, at=None):
    """Start a downtime for this source unless one from it is already open; returns it."""
    existing = open_downtime_for(machine, source, issue)
    if existing is not None:
        return existing
    downtime = Downtime(machine=machine, source=source, reason=reason[:200],
                        issue_id=issue.id if issue is not None else None,
                        started_at=at or utcnow())
    db.session.add(downtime)
    db.session.flush()
    return downtime


def open_downtime_for(machine, source, issue=None):
    stmt = select(Downtime).where(Downtime.machine_id == machine.id,
                                  Downtime.source == source, Downtime.ended_at.is_(None))
    if issue is not None:
        stmt = stmt.where(Downtime.issue_id == issue.id)
    return db.session.scalars(stmt).first()


def close_downtime(machine, source, issue=None, at=None):
    """End the open downtime of this source (and issue); returns it, or None if none."""
    downtime = open_downtime_for(machine, source, issue)
    if downtime is not None:
        downtime.ended_at = at or utcnow()
        db.session.flush()
    return downtime
