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
               api_keys,
               auth,
               docs,
               equipment,
               errors,
               floor,
               idempotency,
               ingest,
               issues,
               limits,
               machine_types,
               machines,
               notifications,
               oee,
               places,
               plans,
               readings,
               tasks,
               users,
               ws,
)

# Before every endpoint, in this order: count the call against its caller's rate limit,
# then answer a repeated Idempotency-Key from the stored first answer. Blueprint-wide, so
# endpoints added later get both without a line of their own.
bp.before_request(limits.enforce)
bp.before_request(idempotency.replay_or_claim)
bp.after_request(idempotency.remember)
bp.after_request(limits.add_headers)

# The JSON socket /api/v1/ws joins the app with the API.
bp.record_once(lambda state: state.app.register_blueprint(ws.socket_bp))
# Recorded after every route above, so it runs after them and describes them all.
bp.record_once(docs.document)
