"""Production domain (/production): shift calendars, products and ideal cycle times, the
downtime reason tree, downtimes, counts and the OEE series (docs/oee.md)."""

from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("production", __name__, url_prefix="/production")
nav_entry(65, "Production", "production.index", roles.PLANT_WIDE)

from . import live, views  # noqa: E402,F401
