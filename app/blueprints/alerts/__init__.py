"""Alerts domain: alert rules and alerts (/alerts), andon calls and escalation (/andon)."""

from flask import Blueprint

bp = Blueprint("alerts", __name__)

from . import andon_models, models  # noqa: E402,F401

# isort: split
from . import access, evaluation, live, views  # noqa: E402,F401

# isort: split
from . import andon_live, andon_views  # noqa: E402,F401
