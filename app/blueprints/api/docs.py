"""The OpenAPI description at /api/v1/openapi.json, with Swagger UI and ReDoc beside it.

flask-smorest builds the description from the same marshmallow schemas that read the
requests and shape the responses. The viewers' scripts are vendored in static/vendor
(scripts/vendor.sh): plants are often offline, so no CDN.
"""

from flask_smorest import Api

from . import bp, ws_schema
from .errors import ErrorSchema
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import REPLAYED

# The sections of the description, in reading order.
TAGS = [
    {"name": "auth", "description": "Tokens and one's own profile."},
    {"name": "machines", "description": "The machine registry (managers change it)."},
    {"name": "equipment", "description": "Machines with their live values and connectivity."},
    {"name": "ingest", "description": "Readings from machines, signed (README)."},
    {"name": "alerts", "description": "Alerts raised by the rules: acknowledge, comment, "
                                      "close."},
    {"name": "alert-rules", "description": "What raises alerts (managers change them)."},
    {"name": "andon", "description": "Calls for help from the floor, and answering them."},
    {"name": "api-keys", "description": "Long-lived keys for service accounts "
                                        "(administrators)."},
]

IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Any unique string (a UUID) to make a retried POST safe: the same key "
                   "with the same request, from the same user or API key, within 24 h "
                   "answers with the first answer again (header "
                   f"`{REPLAYED}: true`) and creates nothing; with another request it is "
                   "422 `idempotency_key_reused`; while the first has not answered, 409 "
                   "`idempotency_key_in_flight`. An answer holding a secret (a new API "
                   "key) is not kept: its replay is 409 `idempotency_answer_not_kept` "
                   "with the Location of what was made.",
}

SETTINGS = {
    "API_TITLE": "Floorline API",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.1.0",
    "OPENAPI_URL_PREFIX": "/api",
    "OPENAPI_JSON_PATH": "v1/openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "docs",
    "OPENAPI_SWAGGER_UI_URL": "/static/vendor/swagger-ui/",
    "OPENAPI_REDOC_PATH": "redoc",
    "OPENAPI_REDOC_URL": "/static/vendor/redoc/redoc.standalone.js",
    "API_SPEC_OPTIONS": {
        "components": {"securitySchemes": {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "An access token from POST /api/v1/auth/login, "
                                          "or an API key (flk_…)."},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                       "description": "An API key made by an administrator (flk_…)."}}},
        "security": [{"bearerAuth": []}, {"apiKey": []}],
        "info": {"description": "See docs/api.md for the conventions: errors, "
                                "pagination, ETags, times, tokens, API keys, "
                                "Idempotency-Key, rate limits (RateLimit-* headers; 429 "
                                "with Retry-After). The WebSocket "
                                "/api/v1/ws?token=<access token> sends and takes the "
                                "messages of the components WsServerMessage and "
                                "WsClientMessage (docs/api.md \"WebSocket\")."},
    },
}


class FloorlineApi(Api):
    """flask-smorest's Api, documenting our error shape and leaving error handling to us.

    Its own handler would answer every HTTP error in the whole app with JSON, the HTML
    pages' too; the API blueprint has its handlers (errors.py).
    """

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self):
        pass


def document(state):
    """When the blueprint joins an app, describe its routes there (the Api's own
    register_blueprint would register the blueprint a second time)."""
    app = state.app
    for key, value in SETTINGS.items():
        app.config.setdefault(key, value)
    api = FloorlineApi(app)
    app.extensions["flask-smorest"]["blp_name_to_api"][bp.name] = api
    bp.register_views_in_doc(api, app, api.spec, name=bp.name, parameters=None)
    ws_schema.describe(api.spec)
    for tag in TAGS:
        api.spec.tag(tag)
    _document_idempotency(api.spec)


def _document_idempotency(spec):
    """Every POST that takes a credential takes Idempotency-Key too (idempotency.py hooks
    the whole blueprint, so the description says so for every such operation)."""
    spec.components.parameter(IDEMPOTENCY_HEADER, "header", IDEMPOTENCY_PARAMETER)
    ref = {"$ref": f"#/components/parameters/{IDEMPOTENCY_HEADER}"}
    for operations in spec._paths.values():  # apispec keeps no public way to edit them
        post = operations.get("post")
        if post is not None and post.get("security") != []:
            post.setdefault("parameters", []).append(ref)
