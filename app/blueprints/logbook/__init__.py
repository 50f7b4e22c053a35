from flask import Blueprint

bp = Blueprint("logbook", __name__, url_prefix="/logbook")

from app.blueprints.production import models as _production_models  # noqa: E402,F401

from . import attachment_views, metrics_views, models, views  # noqa: E402,F401
