"""The Idempotency-Key header on POST: a retried create makes nothing twice.

A POST that carries the header is remembered in Redis per caller (user or API key) and
key: the first one runs, and its answer (2xx only: status, body, Location, ETag) is kept
for API_IDEMPOTENCY_HOURS. The same caller sending the same key again gets:

- the same request (method, path, query and body) → the stored answer again, with
  `Idempotent-Replayed: true`, and nothing is created;
- another request → 422 `idempotency_key_reused`;
- while the first has not answered yet → 409 `idempotency_key_in_flight`.

A first request that fails (4xx, 5xx) keeps nothing, so the client may correct it and
send the same key again. An answer marked `Cache-Control: no-store` holds a secret shown
once (a new API key): its body is not kept, and a replay is 409
`idempotency_answer_not_kept` with the Location of what the first request made.

Hooked on the whole blueprint (api/__init__.py), so every POST, including endpoints added
later, honours the header without a line of its own.
"""

import base64
import hashlib
import json

from flask import current_app, g, request
from redis import RedisError

from app.core.extensions import redis_client

from .errors import JsonError
from .tokens import principal_or_none

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_LENGTH = 255
# How long a first request may run before its claim lapses (a process that died with it).
CLAIM_SECONDS = 120
KEPT_HEADERS = ("Content-Type", "Location", "ETag")
# Logins and refreshes hand out fresh tokens: replaying one would hand out spent ones.
EXEMPT = {"api.login", "api.token", "api.refresh", "api.token_refresh", "api.ingest"}


def _digest(*parts):
    sha = hashlib.sha256()
    for part in parts:
        sha.update(part if isinstance(part, bytes) else str(part).encode())
        sha.update(b"\x00")
    return sha.hexdigest()


def _body_fingerprint():
    """The body as its meaning, not its bytes: JSON with sorted keys; multipart as fields
    and file contents (a client's random boundary differs on every send)."""
    if request.mimetype.startswith("multipart/"):
        files = sorted((name, f.filename or "", _digest(f.stream.read()))
                       for name, f in request.files.items(multi=True))
        for _, f in request.files.items(multi=True):
            f.stream.seek(0)
        return json.dumps([sorted(request.form.items(multi=True)), files])
    body = request.get_data(cache=True)
    if request.is_json:
        try:
            return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"))
        except ValueError:
            pass  # not JSON after all: the endpoint answers 400; bytes will do here
    return body


def _fingerprint():
    return _digest(request.method, request.path, request.query_string, _body_fingerprint())


def _store_key(principal, key):
    prefix = current_app.config["API_REDIS_PREFIX"]
    return f"{prefix}:idempotency:{principal.bucket}:{_digest(key)}"


def _unavailable():
    return JsonError(503, "idempotency_unavailable", "The Idempotency-Key cannot be "
                     "honoured right now (its store is unreachable); retry shortly.",
                     headers={"Retry-After": "5"})


def _claim(store_key, fingerprint):
    """Claim the key for this request; the earlier record when there is one."""
    claim = json.dumps({"state": "in_flight", "fingerprint": fingerprint})
    redis = redis_client()
    for _ in range(2):  # the record may lapse between the two calls: then claim again
        if redis.set(store_key, claim, nx=True, ex=CLAIM_SECONDS):
            return None
        stored = redis.get(store_key)
        if stored is not None:
            return json.loads(stored)
    raise _unavailable()


def _replay(record):
    if record.get("withheld"):
        raise JsonError(409, "idempotency_answer_not_kept", f"The first request with this "
                        f"{HEADER} succeeded; its answer held a secret shown only once, so "
                        "it is not kept. Location names what it made.",
                        headers=dict(record["headers"]))
    response = current_app.response_class(base64.b64decode(record["body"]),
                                          status=record["status"])
    response.headers.clear()
    for name, value in record["headers"]:
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def replay_or_claim():
    """Before every API call: answer a repeated Idempotency-Key, or claim a new one."""
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None or request.endpoint in EXEMPT:
        return None
    principal = principal_or_none()
    if principal is None:
        return None  # the endpoint answers 401 and nothing is created
    if not 1 <= len(key) <= MAX_LENGTH:
        raise JsonError(400, "invalid_idempotency_key", f"An {HEADER} is 1–{MAX_LENGTH} "
                        "characters; a random UUID is best.", {HEADER: "Wrong length."})
    fingerprint, store_key = _fingerprint(), _store_key(principal, key)
    try:
        record = _claim(store_key, fingerprint)
    except RedisError:
        raise _unavailable() from None
    if record is None:
        g.idempotency = (store_key, fingerprint)
        return None
    if record["fingerprint"] != fingerprint:
        raise JsonError(422, "idempotency_key_reused", f"This {HEADER} was sent with "
                        "another request; use a new key for a new request.",
                        {HEADER: "Used before with another request."})
    if record["state"] == "in_flight":
        raise JsonError(409, "idempotency_key_in_flight", f"A request with this {HEADER} "
                        "has not answered yet; retry once it has.",
                        headers={"Retry-After": "1"})
    return _replay(record)


def _record(response, fingerprint):
    if "no-store" in response.headers.get("Cache-Control", ""):
        location = response.headers.get("Location")
        return {"state": "done", "fingerprint": fingerprint, "withheld": True,
                "headers": [("Location", location)] if location else []}
    return {"state": "done", "fingerprint": fingerprint, "status": response.status_code,
            "body": base64.b64encode(response.get_data()).decode(),
            "headers": [(h, response.headers[h]) for h in KEPT_HEADERS
                        if h in response.headers]}


def remember(response):
    """After a claimed call: keep a success for replays; release the key after a failure."""
    claim = g.pop("idempotency", None)
    if claim is None:
        return response
    store_key, fingerprint = claim
    try:
        if 200 <= response.status_code < 300 and not response.is_streamed:
            record = _record(response, fingerprint)
            hours = current_app.config["API_IDEMPOTENCY_HOURS"]
            redis_client().set(store_key, json.dumps(record), ex=hours * 3600)
        else:
            redis_client().delete(store_key)
    except RedisError:
        current_app.logger.warning("idempotency record not kept for %s", request.path)
    return response
