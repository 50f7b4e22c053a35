"""Production domain (/production): shift calendars, products and ideal cycle times, the
downtime reason tree, downtimes, counts and the OEE series (docs/oee.md)."""

from flask import Blueprint

bp = Blueprint("production", __name__, url_prefix="/production")
