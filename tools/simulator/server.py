"""The simulated vendor over HTTP: data URLs, subscriptions, webhook pushes.

`create_vendor_app()` is a small Flask app of its own (not Floorline's) answering
docs/vendor-contract.md sections 1 and 2; `Pusher` does section 3; `Refresher` keeps the
plant's machine list in step with Floorline's database. None of them touches the network
or the database unless asked, so tests drive them directly.
"""

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import make_server

from .signals import UnknownMachine

log = logging.getLogger("floorline.simulator")

PUSH_TIMEOUT_SECONDS = 5
SIGNATURE_HEADER = "X-Floorline-Signature"


def wall_clock():
    return datetime.now(UTC)


def sign(secret, body):
    """The vendor's signature of a push: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _error(status, message):
    response = jsonify(error=message)
    response.status_code = status
    return response


def create_vendor_app(plant, store, clock=wall_clock, refresher=None):
    """The vendor API. `refresher`, if given, is asked to re-read the machines when a
    request names one the plant does not know yet (it was added in Floorline just now)."""
    app = Flask(__name__)
    app.json.sort_keys = False

    def known(vendor_id):
        if plant.knows(vendor_id):
            return True
        return refresher is not None and refresher.refresh_soon() and plant.knows(vendor_id)

    @app.get("/machines/<vendor_id>/data")
    def machine_data(vendor_id):
        try:
            reading = plant.reading(vendor_id, clock()) if known(vendor_id) else False
        except UnknownMachine:   # removed by a refresh a moment ago
            reading = False
        if reading is False:
            return _error(404, f"no machine '{vendor_id}' at this vendor")
        if reading is None:
            response = _error(503, f"{vendor_id} is not responding")
            response.headers["Retry-After"] = "30"
            return response
        return jsonify(machine_id=vendor_id, ts=reading.ts_text, values=reading.values)

    @app.post("/subscriptions")
    def subscribe():
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            return _error(400, 'send a JSON object: {"machine_id", "callback_url", "secret"}')
        machine_id, callback_url = payload.get("machine_id"), payload.get("callback_url")
        secret = payload.get("secret")
        problems = []
        if not isinstance(machine_id, str) or not machine_id:
            problems.append("machine_id must be the vendor's machine id")
        if not isinstance(callback_url, str) or urlsplit(callback_url).scheme not in (
                "http", "https") or not urlsplit(callback_url).netloc:
            problems.append("callback_url must be a full http:// or https:// address")
        if not isinstance(secret, str) or not secret:
            problems.append("secret must be a non-empty text")
        if problems:
            return _error(422, "; ".join(problems))
        if not known(machine_id):
            return _error(404, f"no machine '{machine_id}' at this vendor")
        subscription, created = store.upsert(machine_id, callback_url, secret)
        response = jsonify(subscription.public())
        if created:
            response.status_code = 201
            response.headers["Location"] = f"/subscriptions/{subscription.id}"
            log.info("subscription %s: %s → %s", subscription.id, machine_id, callback_url)
        return response

    @app.get("/subscriptions")
    def subscriptions():
        return jsonify([s.public() for s in store.all()])

    @app.delete("/subscriptions/<subscription_id>")
    def unsubscribe(subscription_id):
        if not store.delete(subscription_id):
            return _error(404, f"no subscription '{subscription_id}'")
        log.info("subscription %s deleted", subscription_id)
        return "", 204

    @app.errorhandler(HTTPException)
    def http_error(error):
        return _error(error.code, error.description)

    return app


# --- pushes ------------------------------------------------------------------------------

@dataclass
class PushResult:
    subscription_id: str
    machine_id: str
    status: int | None = None     # the callback's HTTP status; None if it was not reached
    skipped: str | None = None    # why nothing was sent (silent, unknown machine)
    error: str | None = None

    @property
    def ok(self):
        return self.skipped is not None or (self.status is not None and 200 <= self.status < 300)


class Pusher:
    """Every `interval` seconds, POSTs each subscription's current reading, signed."""

    def __init__(self, plant, store, clock=wall_clock, interval=5.0, workers=8):
        self.plant, self.store, self.clock, self.interval = plant, store, clock, interval
        self.workers = workers
        self._failing = {}    # subscription id → the last failure, to log changes only

    def push_once(self, now=None):
        now = now or self.clock()
        subscriptions = self.store.all()
        if not subscriptions:
            return []
        with ThreadPoolExecutor(max_workers=min(self.workers, len(subscriptions))) as pool:
            results = list(pool.map(lambda s: self._push(s, now), subscriptions))
        for subscription, result in zip(subscriptions, results, strict=True):
            self._log(subscription, result)
        return results

    def _push(self, subscription, now):
        result = PushResult(subscription.id, subscription.machine_id)
        try:
            reading = self.plant.reading(subscription.machine_id, now)
        except UnknownMachine:
            result.skipped = "unknown machine"
            return result
        if reading is None:
            result.skipped = "silent"
            return result
        body = json.dumps({"machine": reading.vendor_id, "ts": reading.ts_text,
                           "values": reading.values}).encode()
        try:
            response = requests.post(subscription.callback_url, data=body, headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(subscription.secret, body)},
                timeout=PUSH_TIMEOUT_SECONDS)
        except requests.Timeout:
            result.error = f"no answer within {PUSH_TIMEOUT_SECONDS} s"
            return result
        except requests.ConnectionError:
            result.error = "cannot connect"
            return result
        except requests.RequestException as exc:
            result.error = type(exc).__name__    # stable, so the log line is not repeated
            return result
        result.status = response.status_code
        if not 200 <= response.status_code < 300:
            result.error = f"HTTP {response.status_code}: {' '.join(response.text.split())[:200]}"
        return result

    def _log(self, subscription, result):
        before = self._failing.get(subscription.id)
        if result.error:
            self._failing[subscription.id] = result.error
            if result.error != before:
                log.warning("push of %s to %s failed: %s (retrying every %g s; logged "
                            "again when it changes)", subscription.machine_id,
                            subscription.callback_url, result.error, self.interval)
        elif result.status is not None and before is not None:
            del self._failing[subscription.id]
            log.info("push of %s to %s works again", subscription.machine_id,
                     subscription.callback_url)

    def run(self, stop):
        """Push until the `stop` event is set; never raises."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.push_once()
            except Exception:
                log.exception("push round failed; trying again next round")
            stop.wait(max(self.interval - (time.monotonic() - started), 0.1))


# --- the machine list --------------------------------------------------------------------

class Refresher:
    """Re-reads the machines (`load_specs()`) every `every` seconds, or soon on demand."""

    def __init__(self, plant, load_specs, clock=wall_clock, every=60.0, min_gap=5.0):
        self.plant, self.load_specs, self.clock = plant, load_specs, clock
        self.every, self.min_gap = every, min_gap
        self._lock = threading.Lock()
        self._last = None

    def refresh(self):
        with self._lock:
            self._last = time.monotonic()
            specs = self.load_specs()
            before = set(self.plant.models)
            self.plant.sync(specs, self.clock())
            added = set(self.plant.models) - before
            gone = before - set(self.plant.models)
            if added or gone:
                log.info("machines: %d (added %s; gone %s)", len(specs),
                         ", ".join(sorted(added)) or "none", ", ".join(sorted(gone)) or "none")
            return specs

    def refresh_soon(self):
        """Refresh unless that happened within `min_gap` seconds; True if it refreshed."""
        if self._last is not None and time.monotonic() - self._last < self.min_gap:
            return False
        try:
            self.refresh()
        except Exception:
            log.exception("could not re-read the machines")
            return False
        return True

    def run(self, stop):
        while not stop.wait(self.every):
            try:
                self.refresh()
            except Exception:
                log.exception("could not re-read the machines; keeping the last list")


# --- serving -----------------------------------------------------------------------------

class Server:
    """A threaded werkzeug server in a background thread (port 0: any free port)."""

    def __init__(self, app, host="127.0.0.1", port=0):
        self.httpd = make_server(host, port, app, threaded=True)
        self.port = self.httpd.server_port
        # A short poll interval makes stop() quick (tests start and stop many servers).
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.1,),
                                       daemon=True, name="vendor-http")

    @property
    def url(self):
        host = self.httpd.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
