"""Every failure under /api/v1 is JSON: {"error": {"code", "message", "fields"}}.

The one exception is the ingest webhook, whose flat {"error": "..."} shape is a published
contract with machine vendors (README "Ingest"): it raises ApiError and keeps that shape.
"""

import marshmallow as ma
from flask import jsonify, request
from sqlalchemy.exc import IntegrityError

from app.core import uploads
from app.core.errors import Forbidden, InUse, ValidationFailed
from app.core.extensions import db

from . import bp

PREFIX = "/api/"
# Statuses an API client may meet, each with the code word it reads in error.code.
CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
         405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
         412: "precondition_failed", 413: "payload_too_large",
         415: "unsupported_media_type", 422: "validation_failed",
         428: "precondition_required", 429: "too_many_requests",
         500: "server_error"}
JSON_METHODS = {"POST", "PUT", "PATCH"}


class ApiError(Exception):
    """The ingest webhook's errors: {"error": "<message>", ...extra}."""

    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class JsonError(Exception):
    """An API refusal: status, a stable code word for programs, a message for people."""

    def __init__(self, status, code, message, fields=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.fields, self.headers = fields or {}, headers or {}


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True, metadata={"description": "Stable code word"})
    message = ma.fields.String(required=True, metadata={"description": "For people"})
    fields = ma.fields.Dict(keys=ma.fields.String(), required=True, metadata={
        "description": "Field name → what is wrong with it (\"\" for the whole request)"})


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema, required=True)


def is_api_request():
    return request.path.startswith(PREFIX)


def error_response(status, code, message, fields=None, headers=None):
    response = jsonify(error={"code": code, "message": message, "fields": fields or {}})
    response.status_code = status
    response.headers.extend(headers or {})
    return response


def http_error_response(error):
    """A Werkzeug HTTPException (or smorest/webargs abort) as the API's JSON error."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    fields = _flatten(data.get("messages") or data.get("errors") or {})
    message = data.get("message") or error.description or ""
    if set(fields) == {""}:
        message, fields = fields[""], {}
    elif fields:
        message = "Some fields are not valid; see error.fields."
    if status >= 500:
        db.session.rollback()
    headers = dict(data.get("headers") or {})
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    return error_response(status, CODES.get(status, "error"), message, fields, headers)


def _flatten(messages):
    """webargs nests errors by location ({"json": {"name": [...]}}): keep field → text."""
    fields = {}
    for location, errors in messages.items():
        if not isinstance(errors, dict):
            fields[location if location not in ("json", "query") else ""] = _text(errors)
            continue
        for name, text in errors.items():
            fields[str(name)] = _text(text)
    return fields


def _text(errors):
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in errors.items())
    if isinstance(errors, list | tuple):
        return " ".join(_text(e) for e in errors)
    return str(errors)


# The readings webhook parses its own body; uploads come as multipart/form-data.
NOT_JSON = {"api.ingest", "api.upload_issue_attachment"}


@bp.before_request
def require_json_body():
    """A body in another format is refused as such, not misread as missing fields."""
    if request.endpoint in NOT_JSON or request.method not in JSON_METHODS:
        return None
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return None
    if not request.is_json:
        raise JsonError(415, CODES[415], "Send the body as JSON with Content-Type: "
                                         "application/json.")
    return None


@bp.errorhandler(ApiError)
def ingest_error(error):
    response = jsonify(error=error.message, **error.extra)
    response.status_code = error.status
    return response


@bp.errorhandler(JsonError)
def json_error(error):
    db.session.rollback()
    return error_response(error.status, error.code, error.message, error.fields,
                          error.headers)


@bp.errorhandler(ValidationFailed)
def validation_failed(error):
    db.session.rollback()
    return error_response(422, CODES[422], str(error), error.errors)


@bp.errorhandler(InUse)
def in_use(error):
    """Deleting what others still use: a conflict with the plant's state, not bad input."""
    db.session.rollback()
    return error_response(409, CODES[409], str(error), error.errors)


@bp.errorhandler(uploads.FileTooLarge)
def file_too_large(error):
    db.session.rollback()
    return error_response(413, CODES[413], str(error), error.errors)


@bp.errorhandler(uploads.WrongKindOfFile)
def wrong_kind_of_file(error):
    db.session.rollback()
    return error_response(415, CODES[415], str(error), error.errors)


@bp.errorhandler(Forbidden)
def forbidden(error):
    db.session.rollback()
    return error_response(403, CODES[403], str(error) or "You may not do this.")


@bp.errorhandler(IntegrityError)
def conflict(error):
    """Two clients made the same thing at once; the later one learns it, nothing is kept."""
    db.session.rollback()
    return error_response(409, CODES[409], "This conflicts with a change made at the same "
                                           "time; load it again and retry.")


def _register_status_handlers():
    # By status, not by class: Flask prefers the app's status pages over a blueprint's
    # class handler, and the API must never answer with a page.
    for status in CODES:
        bp.register_error_handler(status, http_error_response)


_register_status_handlers()
