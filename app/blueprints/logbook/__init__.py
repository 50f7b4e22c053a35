from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("logbook", __name__, url_prefix="/logbook")
nav_entry(60, "Logbook", "logbook.index", roles.EVERYONE)

from . import attachment_views, metrics_views, models, views  # noqa: E402,F401
