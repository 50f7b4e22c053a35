"""The offline check: machines silent for longer than their offline rules allow."""

import logging

from app.blueprints.alerts.evaluation import check_offline
from app.core.extensions import db
from app.core.models import utcnow

from . import job

log = logging.getLogger(__name__)


@job
def check_offline_machines():
    """Raise offline alerts; safe to run twice (one open alert per rule and machine)."""
    changed = check_offline(utcnow())
    db.session.commit()
    if changed:
        log.info("offline alerts raised or re-activated: %s", len(changed))
    return len(changed)
