"""Telemetry domain: ingest (webhook, batch, poll, MQTT), readings, each machine's latest
state, partitions, history charts and CSV, live tiles (/telemetry)."""

from flask import Blueprint

bp = Blueprint("telemetry", __name__, url_prefix="/telemetry")

from . import models  # noqa: E402,F401

# isort: split
from . import cli, live, panels, tiles, views  # noqa: E402,F401
