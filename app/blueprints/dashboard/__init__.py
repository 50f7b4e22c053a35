from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("dashboard", __name__)
nav_entry(10, "Home", "dashboard.home", roles.EVERYONE)

from . import views  # noqa: E402,F401
