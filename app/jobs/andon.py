"""Andon escalation: every 30 s, fire the ladder levels that have come due."""

import logging

from app.blueprints.andon.escalation import escalate_due_calls
from app.core.extensions import db
from app.core.models import utcnow

from . import job

log = logging.getLogger(__name__)


@job
def escalate_andon_calls():
    """Notify the roles of every level now due on an active call; returns how many fired."""
    events = escalate_due_calls(utcnow())
    db.session.commit()
    if events:
        log.info("andon: %s escalation levels fired", len(events))
    return len(events)
