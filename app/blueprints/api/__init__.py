"""The JSON API under /api/v1: integrators' clients, and machines posting readings.

Conventions (errors, pagination, ETags, tokens) are written once here and described in
docs/api.md; each resource module (auth, machines ...) calls its domain's services.
"""

from flask_smorest import Blueprint

from app.core.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1",
               description="Floorline's JSON API (docs/api.md).")
# Clients prove who they are with a bearer token, not a session cookie, so a forged
# cross-site request has nothing to ride on. The HTML pages keep their CSRF check.
csrf.exempt(bp)

from . import (  # noqa: E402,F401
               alert_rules,
               alerts,
               andon,
               auth,
               docs,
               equipment,
               errors,
               floor,
               ingest,
               issues,
               machine_types,
               machines,
               notifications,
               places,
               plans,
               readings,
               tasks,
               users,
)

# Recorded after every route above, so it runs after them and describes them all.
bp.record_once(docs.document)
