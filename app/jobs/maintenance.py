"""Maintenance plans that fall due by the calendar (meters also trigger at ingest)."""

import logging

from app.blueprints.tasks.plans import make_due_tasks
from app.core.extensions import db

from . import job

log = logging.getLogger(__name__)


@job
def make_due_maintenance_tasks():
    """One task per due plan without an open one; returns how many were made."""
    made = make_due_tasks()
    db.session.commit()
    if made:
        log.info("made %s maintenance task(s) from due plans", len(made))
    return len(made)
