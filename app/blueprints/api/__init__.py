"""The JSON API under /api/v1: machines and vendors post readings here."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api/v1")

from . import errors, ingest  # noqa: E402,F401
