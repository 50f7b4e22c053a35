"""Tasks domain: maintenance tasks and the plans that make them."""

from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
nav_entry(50, "Tasks", "tasks.index", roles.EVERYONE, badge="tasks")

from . import from_alerts, live, meters, models, panels, plan_views, services, views  # noqa: E402,F401
