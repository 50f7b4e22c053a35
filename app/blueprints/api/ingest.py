"""POST /api/v1/ingest: signed readings from machines and vendors (contract in README)."""

import hashlib
import hmac
import json

import marshmallow as ma
import orjson
from flask import current_app, jsonify, request

from app.blueprints.machines.lookup import machine_lookup
from app.blueprints.telemetry import ingest as telemetry
from app.core.extensions import csrf, db

from . import bp
from .errors import ApiError

SIGNATURE_HEADER = "X-Floorline-Signature"


class IngestErrorSchema(ma.Schema):
    """The webhook's own error shape, older than the API's and kept for the vendors."""

    error = ma.fields.String(required=True)


INGEST_DOC = {"security": [], "responses": {"default": {
    "description": "Refused: {\"error\": \"<reason>\"} (the webhook's own shape)",
    "content": {"application/json": {"schema": IngestErrorSchema}}}}}


def signature_for(secret, body):
    """What the sender puts in X-Floorline-Signature: sha256=<hex HMAC-SHA256 of the body>."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _check_signature(secret, body, what):
    given = request.headers.get(SIGNATURE_HEADER, "")
    if not given:
        raise ApiError(401, f"missing {SIGNATURE_HEADER} header")
    if not secret or not hmac.compare_digest(given, signature_for(secret, body)):
        raise ApiError(401, f"bad signature: sign the raw body with {what}")


def _read_body():
    limit = current_app.config["INGEST_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"body over {limit} bytes; send smaller batches")
    body = request.get_data(cache=False)
    if len(body) > limit:
        raise ApiError(413, f"body over {limit} bytes; send smaller batches")
    try:
        return body, orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # json decides (and words the 400): it also reads NaN and very big integers,
        # which the validation then rejects with a 422 as before
    try:
        return body, json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None


def _ingest_batch(body, payload):
    _check_signature(current_app.config["INGEST_KEY"], body, "the plant's ingest key")
    readings = payload["readings"]
    if not isinstance(readings, list):
        raise ApiError(422, "readings must be a list")
    limit = current_app.config["INGEST_MAX_BATCH"]
    if len(readings) > limit:
        raise ApiError(413, f"{len(readings)} readings in one batch; at most {limit}")
    return telemetry.ingest(readings, source="batch")


def _ingest_one(body, payload):
    key = payload.get("machine")
    if not isinstance(key, str) or not key:
        raise ApiError(422, "machine must be the machine's code or vendor id")
    lookup = machine_lookup()
    machine = _signed_machine(lookup, lookup.get(), key, body)
    try:
        result = telemetry.ingest([payload], source="webhook", machine=machine)
    except telemetry.RegistryChanged:
        # The machine (its secret, its type) changed since this process looked: look again
        # (now read in this transaction), check the signature again, and write then.
        snapshot = lookup.reload()
        machine = _signed_machine(lookup, snapshot, key, body)
        result = telemetry.ingest([payload], source="webhook", machine=machine, checked=True)
    if result.rejected:
        raise ApiError(422, "; ".join(result.rejected[0]["reasons"]), **result.as_dict())
    return result


def _signed_machine(lookup, snapshot, key, body):
    """The machine the reading names, its signature checked. An unknown machine or a bad
    signature is answered only from a checked snapshot: the machine may be new, or its
    secret just renewed, in another process."""
    machine = snapshot.find(key)
    if machine is None or not _signed_by(machine, body):
        fresh = lookup.fresh()
        if fresh is not snapshot:
            machine = fresh.find(key)
    if machine is None:
        raise ApiError(404, f"unknown machine '{key}'")
    _check_signature(machine.webhook_secret, body, f"the webhook secret of {machine.code}")
    return machine


def _signed_by(machine, body):
    given = request.headers.get(SIGNATURE_HEADER, "")
    return bool(given) and hmac.compare_digest(given, signature_for(machine.webhook_secret,
                                                                    body))


@bp.post("/ingest", tags=["ingest"])
@csrf.exempt
@bp.doc(**INGEST_DOC)
def ingest():
    """Readings from machines and vendors, signed with X-Floorline-Signature (README)."""
    body, payload = _read_body()
    if not isinstance(payload, dict):
        raise ApiError(422, "send one reading object or {\"readings\": [...]}")
    result = _ingest_batch(body, payload) if "readings" in payload else \
        _ingest_one(body, payload)
    db.session.commit()
    return jsonify(result.as_dict()), 202
