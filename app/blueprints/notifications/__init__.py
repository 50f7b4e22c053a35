from flask import Blueprint

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

from . import live, models, views  # noqa: E402,F401
