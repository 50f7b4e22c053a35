"""API errors are JSON: {"error": "...", ...}, never an HTML page."""

from flask import jsonify
from werkzeug.exceptions import HTTPException

from . import bp


class ApiError(Exception):
    def __init__(self, status, message, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


def error_response(status, message, **extra):
    response = jsonify(error=message, **extra)
    response.status_code = status
    return response


@bp.errorhandler(ApiError)
def api_error(error):
    return error_response(error.status, error.message, **error.extra)


@bp.errorhandler(HTTPException)
def http_error(error):
    return error_response(error.code, error.description)
