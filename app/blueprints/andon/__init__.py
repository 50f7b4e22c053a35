"""Andon domain: calls for help from the floor, the escalation ladder, the banner (/andon)."""

from flask import Blueprint

from app.blueprints.auth import roles
from app.core.navigation import nav_entry

bp = Blueprint("andon", __name__, url_prefix="/andon")
nav_entry(40, "Andon", "andon.index", roles.EVERYONE, badge="andon")

from . import models  # noqa: E402,F401

# isort: split
from . import live, panels, views  # noqa: E402,F401
