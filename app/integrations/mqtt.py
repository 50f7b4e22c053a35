"""MQTT in: readings that machines publish to `<prefix>/<machine>/readings` (docs/mqtt.md).

paho's network thread only queues what arrives. One worker thread takes the queue in
batches (messages arriving within BATCH_WINDOW seconds of the first, at most BATCH_MAX),
resolves the topics' machines in one query, hands the whole batch to `ingest()` in one call
(the set-based path) and commits once. A bad message is logged on one line with its reason
and counted; nothing a publisher sends stops the subscriber.
"""

import json
import logging
import os
import queue
import re
import signal
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from app.blueprints.telemetry.ingest import find_machines, ingest
from app.core.extensions import db

log = logging.getLogger(__name__)

DEFAULT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_PREFIX = "floorline"
SOURCE = "mqtt"
QOS = 1
KEEPALIVE = 60
BATCH_WINDOW = 0.2  # seconds a batch stays open after its first message
BATCH_MAX = 500
STATS_EVERY = 60  # seconds between summary lines (only when something happened)
COUNTS = ("received", "batches", "stored", "unchanged", "duplicates", "rejected",
          "rejected_malformed", "rejected_unknown_machine", "rejected_machine_mismatch",
          "rejected_invalid", "failed")
_STOP = object()


# --- settings ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url):
        """mqtt://[user[:password]@]host[:port], or mqtts:// for TLS (port 8883)."""
        parts = urlsplit(url or "")
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"MQTT URL must look like mqtt://host:1883 or mqtts://host, "
                             f"not '{url}'")
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"MQTT URL '{url}' has a bad port") from None
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, port or (8883 if tls else 1883), tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password is not None else None)

    def __str__(self):  # for logs: never the password
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


def clean_prefix(prefix):
    prefix = (prefix or "").strip().strip("/")
    if not prefix or "+" in prefix or "#" in prefix:
        raise ValueError(f"MQTT topic prefix must be a plain topic such as 'floorline' "
                         f"(no + or #), not '{prefix}'")
    return prefix


def _setting(app, key, default):
    return app.config.get(key) or os.environ.get(key) or default


# --- one-line structured logs --------------------------------------------------------------

_PLAIN = re.compile(r"^[\w.:/@+-]+$")


def _line(event, **fields):
    """`mqtt.rejected topic=floorline/CNC-07/readings reason="..."` (logfmt style)."""
    parts = [event]
    for key, value in fields.items():
        text = str(value)[:500]
        parts.append(f"{key}={text if _PLAIN.match(text) else json.dumps(text)}")
    return " ".join(parts)


def _log(level, event, **fields):
    if log.isEnabledFor(level):
        log.log(level, _line(event, **fields))


# --- the subscriber ------------------------------------------------------------------------

@dataclass
class _Message:
    topic: str
    key: str  # the machine as the topic names it: our code or the vendor's id
    readings: list


class Subscriber:
    """Stores readings published to `<prefix>/+/readings`. start() returns; stop() drains."""

    def __init__(self, app, url=None, prefix=None, window=BATCH_WINDOW, max_batch=BATCH_MAX):
        self.app = app
        self.broker = Broker.from_url(url or _setting(app, "MQTT_URL", DEFAULT_URL))
        self.prefix = clean_prefix(prefix or _setting(app, "MQTT_TOPIC_PREFIX", DEFAULT_PREFIX))
        self.topic = f"{self.prefix}/+/readings"
        self.window, self.max_batch = window, max_batch
        self.counts = Counter(dict.fromkeys(COUNTS, 0))  # written by the worker thread only
        self.subscribed = threading.Event()
        self._stopping = threading.Event()
        self._queue = queue.Queue(maxsize=max_batch * 20)  # full: paho stops reading
        self._worker = threading.Thread(target=self._consume, name="mqtt-ingest", daemon=True)
        self._client = self._make_client()

    def stats(self):
        return dict(self.counts)

    def _make_client(self):
        client = paho.Client(CallbackAPIVersion.VERSION2,
                             client_id=f"floorline-{uuid.uuid4().hex[:12]}")
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect, client.on_connect_fail = self._on_connect, self._on_connect_fail
        client.on_subscribe, client.on_disconnect = self._on_subscribe, self._on_disconnect
        client.on_message = self._on_message
        return client

    def start(self):
        """Connect in the background (retrying until the broker answers) and start storing."""
        _log(logging.INFO, "mqtt.starting", broker=self.broker, topic=self.topic)
        self._worker.start()
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE)
        self._client.loop_start()  # paho's loop_forever in a thread, reconnecting

    def stop(self, timeout=30):
        """Disconnect, then store what has already arrived."""
        self._stopping.set()
        self._client.disconnect()
        self._client.loop_stop()
        if self._worker.is_alive():
            self._queue.put(_STOP)
            self._worker.join(timeout)
        _log(logging.INFO, "mqtt.stopped", **self.stats())

    # paho callbacks: they run in paho's network thread and must stay quick.

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            _log(logging.ERROR, "mqtt.connect_refused", broker=self.broker, reason=reason_code)
        elif not self._stopping.is_set():
            _log(logging.INFO, "mqtt.connected", broker=self.broker)
            client.subscribe(self.topic, qos=QOS)

    def _on_connect_fail(self, client, userdata):
        _log(logging.WARNING, "mqtt.connect_failed", broker=self.broker, retry="backing off")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            _log(logging.ERROR, "mqtt.subscribe_refused", topic=self.topic, reason=refused[0])
        else:
            _log(logging.INFO, "mqtt.subscribed", topic=self.topic, qos=QOS)
            self.subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.subscribed.clear()
        if not self._stopping.is_set():
            _log(logging.WARNING, "mqtt.disconnected", broker=self.broker, reason=reason_code,
                 retry="reconnecting")

    def _on_message(self, client, userdata, message):
        self._queue.put((message.topic, message.payload))

    # the worker thread

    def _consume(self):
        done, last_summary, summarised = False, time.monotonic(), self.stats()
        while not done:
            batch, done = self._next_batch()
            if batch:
                self._handle_safely(batch)
            if time.monotonic() - last_summary >= STATS_EVERY and self.stats() != summarised:
                last_summary, summarised = time.monotonic(), self.stats()
                _log(logging.INFO, "mqtt.stats", **summarised)

    def _next_batch(self):
        """([(topic, payload), ...], stop_seen): what arrives within `window` of the first."""
        try:
            first = self._queue.get(timeout=1)
        except queue.Empty:
            return [], False
        if first is _STOP:
            return [], True
        batch, deadline = [first], time.monotonic() + self.window
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _handle_safely(self, batch):
        self.counts["received"] += len(batch)
        self.counts["batches"] += 1
        with self.app.app_context():
            try:
                self._handle(batch)
            except Exception as exc:  # the database is down, or a bug: log, drop, go on
                db.session.rollback()
                self.counts["failed"] += len(batch)
                log.exception(_line("mqtt.batch_failed", messages=len(batch),
                                    error=type(exc).__name__))

    def _handle(self, batch):
        started = time.monotonic()
        messages = [m for m in (self._parse(topic, payload) for topic, payload in batch) if m]
        if not messages:
            return
        machines = find_machines(_machine_keys(messages))
        readings, origins = self._assign(messages, machines)
        if not readings:
            return
        result = ingest(readings, source=SOURCE)
        db.session.commit()
        self._count(result, origins)
        _log(logging.DEBUG, "mqtt.batch", messages=len(batch), readings=len(readings),
             stored=result.stored, ms=round((time.monotonic() - started) * 1000, 1))

    def _parse(self, topic, payload):
        """The message as a _Message, or None (logged and counted)."""
        key = self._topic_machine(topic)
        if key is None:
            return self._reject("malformed", topic, "", "topic is not <prefix>/<machine>/readings")
        limit = self.app.config.get("INGEST_MAX_BYTES", 8 * 1024 * 1024)
        if len(payload) > limit:
            return self._reject("malformed", topic, key, f"payload over {limit} bytes")
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            return self._reject("malformed", topic, key, f"malformed JSON: {exc}")
        readings, problem = self._readings_of(data)
        if problem:
            return self._reject("malformed", topic, key, problem)
        return _Message(topic, key, readings)

    def _readings_of(self, data):
        """(readings, None) or (None, why the payload is not one reading or a batch)."""
        if not isinstance(data, dict):
            return None, 'send one reading object or {"readings": [...]}'
        if "readings" not in data:
            return [data], None
        readings, limit = data["readings"], self.app.config.get("INGEST_MAX_BATCH", 5000)
        if not isinstance(readings, list) or not readings:
            return None, "readings must be a non-empty list"
        if len(readings) > limit:
            return None, f"{len(readings)} readings in one message; at most {limit}"
        return readings, None

    def _topic_machine(self, topic):
        head, tail = f"{self.prefix}/", "/readings"
        key = topic[len(head):-len(tail)] if topic.startswith(head) and topic.endswith(tail) else ""
        return key if key and "/" not in key else None

    def _assign(self, messages, machines):
        """The readings with the topic's machine filled in, and (message, index) of each."""
        readings, origins = [], []
        for message in messages:
            machine = machines.get(message.key)
            if machine is None:
                self._reject("unknown_machine", message.topic, message.key,
                             f"unknown machine '{message.key}'", count=len(message.readings))
                continue
            for index, raw in enumerate(message.readings):
                problem = _disagreement(raw, machine, machines)
                if problem:
                    self._reject("machine_mismatch", message.topic, message.key, problem,
                                 index=index)
                    continue
                readings.append(dict(raw, machine=machine.code) if isinstance(raw, dict) else raw)
                origins.append((message, index))
        return readings, origins

    def _count(self, result, origins):
        self.counts.update(stored=result.stored, unchanged=result.unchanged,
                           duplicates=result.duplicates)
        for rejection in result.rejected:
            message, index = origins[rejection["index"]]
            self._reject("invalid", message.topic, message.key,
                         "; ".join(rejection["reasons"]), index=index)

    def _reject(self, kind, topic, key, reason, count=1, **where):
        self.counts["rejected"] += count
        self.counts[f"rejected_{kind}"] += count
        _log(logging.WARNING, "mqtt.rejected", kind=kind, topic=topic, machine=key, **where,
             readings=count, reason=reason)


def _key(value):
    """A machine key as find_machines() takes it: text, or a vendor's numeric id."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else None


def _machine_keys(messages):
    keys = {m.key for m in messages}
    keys.update(_key(r.get("machine")) for m in messages for r in m.readings
                if isinstance(r, dict))
    keys.discard(None)
    return keys


def _disagreement(raw, machine, machines):
    """Why a reading's own "machine" field contradicts the topic (None: it agrees or is absent)."""
    if not isinstance(raw, dict) or raw.get("machine") is None:
        return None
    named = machines.get(_key(raw["machine"]))
    if named is None or named.id != machine.id:
        return f"the reading names machine '{raw['machine']}' but the topic names {machine.code}"
    return None


# --- the foreground process ----------------------------------------------------------------

def run_until_signalled(subscriber, signals=(signal.SIGINT, signal.SIGTERM)):
    """Run until SIGINT or SIGTERM, then stop cleanly. Call from the main thread.

    The handler only records the signal; stopping happens here, outside it. A second
    signal while stopping takes the default action (Ctrl-C twice forces the exit).
    """
    caught = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum))
                for sig in signals}
    try:
        subscriber.start()
        while not caught:
            time.sleep(0.2)
        _log(logging.INFO, "mqtt.stopping", signal=signal.Signals(caught[0]).name)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        subscriber.stop()
