"""Keep the readings' hourly and daily roll-ups (app/blueprints/telemetry/rollups.py)."""

import logging

from app.blueprints.telemetry.rollups import roll_up
from app.core.extensions import db

from . import job

log = logging.getLogger(__name__)


@job
def roll_up_readings():
    """Roll the hours finished (or touched by late readings) since the last run; safe to
    run twice at once: the second finds the lock taken and leaves the work to the next."""
    run = roll_up()
    db.session.commit()
    if run.busy:
        log.info("roll-ups: another run holds the lock; skipped")
    elif run.machines:
        log.info("roll-ups: %s hours of %s machines (late readings: %s)",
                 run.hours, run.machines, len(run.late))
    return {"machines": run.machines, "hours": run.hours, "late": run.late, "busy": run.busy}
