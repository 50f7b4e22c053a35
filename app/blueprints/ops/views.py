"""Health for load balancers (/health, /health/ready) and for the person on call
(/health/detailed as JSON, /admin/health as a page)."""

import hmac

from flask import current_app, jsonify, render_template, request
from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.auth.access import roles_required
from app.core.extensions import csrf

from . import bp, checks


@bp.get("/health")
@csrf.exempt
def health():
    """The process answers: no database, no Redis, so it stays cheap under any load."""
    return jsonify(status="ok")


@bp.get("/health/ready")
@csrf.exempt
def ready():
    """May this process take traffic? 503 names what failed, for the load balancer's log."""
    failures = {"database": checks.database_ok(), "redis": checks.redis_ok()}
    body = {name: {"status": "fail", "error": error} if error else {"status": "ok"}
            for name, error in failures.items()}
    healthy = not any(failures.values())
    return jsonify(status="ok" if healthy else "fail", checks=body), 200 if healthy else 503


def _token_sent():
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def _refusal():
    """None when the caller may read the details, else the JSON error response."""
    token, expected = _token_sent(), current_app.config["HEALTH_TOKEN"]
    if token is not None:
        if expected and hmac.compare_digest(token.encode(), expected.encode()):
            return None
        return _error(401, "bad_token", "The monitoring token is wrong or not configured.")
    if not current_user.is_authenticated:
        return _error(401, "unauthenticated",
                      "Log in as an admin or send the monitoring token as a bearer header.")
    if current_user.role != roles.ADMIN:
        return _error(403, "forbidden", "Only admins may read the detailed health.")
    return None


def _error(status, code, message):
    return jsonify(error={"code": code, "message": message, "fields": {}}), status


@bp.get("/health/detailed")
@csrf.exempt
def detailed():
    refused = _refusal()
    if refused is not None:
        return refused
    overall, results = checks.run_all()
    return jsonify(status=overall, checks=[r.as_dict() for r in results])


@bp.get("/admin/health")
@roles_required(roles.ADMIN)
def health_page():
    overall, results = checks.run_all()
    return render_template("ops/health.html", overall=overall, results=results)
