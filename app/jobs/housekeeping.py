"""Periodic clean-up jobs."""

import logging

from app.blueprints.auth import services as auth_services
from app.blueprints.logbook.attachments import remove_orphaned_files
from app.blueprints.telemetry.partitions import ensure_partitions
from app.core.extensions import db

from . import job

log = logging.getLogger(__name__)


@job
def prune_login_attempts():
    """Failed logins older than a day no longer count towards throttling; drop them."""
    removed = auth_services.prune_login_attempts(days=1)
    db.session.commit()
    log.info("pruned %s old failed-login records", removed)
    return removed


@job
def ensure_reading_partitions():
    """Keep this month's and the next two months' readings partitions ready (PostgreSQL)."""
    created = ensure_partitions(db.session.connection())
    db.session.commit()
    if created:
        log.info("created readings partitions: %s", ", ".join(created))
    return created


@job
def remove_orphaned_uploads():
    """Upload files no attachment row refers to (a rolled-back upload, a crash)."""
    removed = remove_orphaned_files()
    if removed:
        log.info("removed %s orphaned upload files", removed)
    return removed
