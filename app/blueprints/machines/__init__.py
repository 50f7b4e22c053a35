from flask import Blueprint

bp = Blueprint("machines", __name__, url_prefix="/machines")

from . import cli, history_views, live, mqtt_cli, setup_views, tiles, vendor_cli, views  # noqa: E402,F401
