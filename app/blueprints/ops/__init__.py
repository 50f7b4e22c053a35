from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("ops", __name__)

nav_entry(92, "Health", "ops.health_page", frozenset({roles.ADMIN}), ("ops.health_page",))

from . import views  # noqa: E402,F401
