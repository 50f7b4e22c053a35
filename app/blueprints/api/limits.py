"""Rate limits: calls a minute per user or API key, per address without a credential.

A one-minute window per caller, counted in Redis: the caller's first call starts it (SET NX
with a 60 s expiry), each call adds one (INCR), and when it expires the next call starts
a new one. One round trip (MULTI/EXEC), shared by every web process, and it works on the
embedded Redis 6.2 of `make run`. A caller may bunch two windows' calls around the edge;
for keeping a runaway script off the plant's database that is close enough.

Every answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds
until the window ends; the IETF draft's names); a refusal is 429 with Retry-After. When
Redis cannot be reached the call goes through: integrations keep working, and a warning
is logged.
"""

import logging

from flask import current_app, g, request
from redis import RedisError

from app.core.extensions import redis_client

from .errors import ApiError, JsonError
from .tokens import principal_or_none

WINDOW = 60
INGEST = "api.ingest"
log = logging.getLogger(__name__)


def _limit_and_bucket():
    config, address = current_app.config, request.remote_addr or "unknown"
    if request.endpoint == INGEST:
        return config["API_INGEST_RATE_LIMIT_PER_MINUTE"], f"ingest:{address}"
    principal = principal_or_none()
    if principal is None:
        return config["API_ANONYMOUS_RATE_LIMIT_PER_MINUTE"], f"address:{address}"
    return config["API_RATE_LIMIT_PER_MINUTE"], principal.bucket


def _count(bucket):
    """Calls so far in the bucket's window, and seconds until the window ends."""
    key = f"{current_app.config['API_REDIS_PREFIX']}:rate:{bucket}"
    pipe = redis_client().pipeline(transaction=True)
    pipe.set(key, 0, ex=WINDOW, nx=True)
    pipe.incr(key)
    pipe.ttl(key)
    _, count, ttl = pipe.execute()
    if ttl < 0:  # the window lapsed between SET and INCR: INCR made a key without expiry
        redis_client().expire(key, WINDOW)
        ttl = WINDOW
    return count, max(1, ttl)


def enforce():
    """Before every API call: count it, and refuse it when its bucket is full."""
    limit, bucket = _limit_and_bucket()
    if not limit:
        return None
    try:
        count, reset = _count(bucket)
    except RedisError as exc:
        log.warning("rate limit not checked, Redis unreachable: %s", exc)
        return None
    g.rate_limit = (limit, max(0, limit - count), reset)
    if count <= limit:
        return None
    message = f"More than {limit} calls a minute; try again in {reset} seconds."
    if request.endpoint == INGEST:  # the webhook keeps its own error shape (README)
        raise ApiError(429, message)
    raise JsonError(429, "too_many_requests", message)


def add_headers(response):
    if "rate_limit" not in g:
        return response
    limit, remaining, reset = g.rate_limit
    response.headers["RateLimit-Limit"] = str(limit)
    response.headers["RateLimit-Remaining"] = str(remaining)
    response.headers["RateLimit-Reset"] = str(reset)
    response.headers["RateLimit-Policy"] = f"{limit};w={WINDOW}"
    if response.status_code == 429 and remaining == 0:  # not the login throttle's own 429
        response.headers.setdefault("Retry-After", str(reset))
    return response
