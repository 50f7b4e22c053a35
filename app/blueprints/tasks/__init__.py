"""Tasks domain: maintenance tasks and the plans that make them."""

from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("tasks", __name__, url_prefix="/tasks")
nav_entry(50, "Tasks", "tasks.index", roles.EVERYONE, badge="tasks")

# Tasks point at alerts and logbook issues: their models must be known before any query
# configures the mappers, whichever package a process happens to import first.
from app.blueprints.alerts import models as _alert_models  # noqa: E402,F401
from app.blueprints.logbook import models as _issue_models  # noqa: E402,F401

from . import live, meters, models, panels, plan_views, services, views  # noqa: E402,F401
