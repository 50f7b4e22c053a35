"""Tasks domain: maintenance tasks and the plans that make them."""

from flask import Blueprint

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

from . import models  # noqa: E402,F401
