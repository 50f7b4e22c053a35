"""Alerts domain: alert rules and the alerts they raise (/alerts)."""

from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("alerts", __name__, url_prefix="/alerts")
nav_entry(30, "Alerts", "alerts.index", roles.MANAGERS | roles.MACHINE_BOUND, badge="alerts")

from . import models  # noqa: E402,F401

# isort: split
from . import access, evaluation, live, panels, views  # noqa: E402,F401
