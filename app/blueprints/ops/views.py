"""Health checks for load balancers and people: no login, no secrets."""

from flask import jsonify
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.core.extensions import csrf, db, redis_client

from . import bp


def _check_database():
    try:
        db.session.execute(text("SELECT 1"))
        return "ok"
    except SQLAlchemyError as exc:
        db.session.rollback()
        return f"error: {exc.__class__.__name__}"


def _check_redis():
    try:
        redis_client().ping()
        return "ok"
    except RedisError as exc:
        return f"error: {exc.__class__.__name__}"


@bp.get("/health")
@csrf.exempt
def health():
    checks = {"database": _check_database(), "redis": _check_redis()}
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "degraded", checks=checks), \
        200 if healthy else 503
