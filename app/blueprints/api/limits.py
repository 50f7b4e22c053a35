"""Rate limits: calls a minute per user or API key, per address without a credential.

A fixed one-minute window counted in Redis (SET NX with a TTL, then INCR: one round trip,
shared by every web process, and it works on the embedded Redis 6.2 of `make run`). The
window can let through up to twice the limit across its edge; for keeping a runaway
script off the plant's database that is close enough, and it costs one Redis call.

Every answer carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (seconds
until the window ends; the IETF draft's names); a refusal is 429 with Retry-After. When
Redis cannot be reached the call goes through: integrations keep working, and a warning
is logged.
"""

import logging
import math
import time

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
    """Calls so far in this window for the bucket, and seconds until the window ends."""
    now = time.time()
    start = int(now // WINDOW) * WINDOW
    key = f"{current_app.config['API_REDIS_PREFIX']}:rate:{bucket}:{start}"
    pipe = redis_client().pipeline(transaction=False)
    pipe.set(key, 0, ex=WINDOW + 5, nx=True)
    pipe.incr(key)
    count = pipe.execute()[1]
    return count, max(1, math.ceil(start + WINDOW - now))


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
