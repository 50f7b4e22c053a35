"""The 20-second poll's job; the cycle itself is telemetry's (app/blueprints/telemetry/poll.py)."""

from app.blueprints.telemetry.poll import poll_cycle

from . import job


@job
def poll_machines():
    return poll_cycle()
