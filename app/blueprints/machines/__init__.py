from flask import Blueprint

bp = Blueprint("machines", __name__, url_prefix="/machines")

from . import cli, live, setup_views, views  # noqa: E402,F401
