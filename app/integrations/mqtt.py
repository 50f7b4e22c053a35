"""MQTT in: readings that machines publish to `<prefix>/<machine>/readings` (docs/mqtt.md).

paho's network thread only queues what arrives. One worker thread takes the queue in
batches (messages arriving within BATCH_WINDOW seconds of the first, at most BATCH_MAX),
parses them and hands the batch to the `handle` it was given (the telemetry domain's, wired
by `flask telemetry mqtt`), which stores it and says what happened. A bad message is logged
on one line with its reason and counted; nothing a publisher sends stops the subscriber.
Nothing here reads or writes rows.
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

log = logging.getLogger(__name__)

DEFAULT_URL = "mqtt://127.0.0.1:1883"
DEFAULT_PREFIX = "floorline"
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
    """Hands readings published to `<prefix>/+/readings` to `handle`. start() returns;
    stop() drains.

    handle([(machine key, [raw reading, ...]), ...]) stores a batch and returns what
    happened: `readings` handed on, `stored`, `unchanged`, `duplicates`, and `rejected`
    (each with `message`, its position in the batch, `kind`, `reason`, `index`, `readings`).
    """

    def __init__(self, app, handle, url=None, prefix=None, window=BATCH_WINDOW,
                 max_batch=BATCH_MAX):
        self.app, self.handle = app, handle
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
        try:
            self._handle(batch)
        except Exception as exc:  # the database is down, or a bug: log, drop, go on
            self.counts["failed"] += len(batch)
            log.exception(_line("mqtt.batch_failed", messages=len(batch),
                                error=type(exc).__name__))

    def _handle(self, batch):
        started = time.monotonic()
        messages = [m for m in (self._parse(topic, payload) for topic, payload in batch) if m]
        if not messages:
            return
        outcome = self.handle([(m.key, m.readings) for m in messages])
        self._count(outcome, messages)
        if outcome.readings:
            _log(logging.DEBUG, "mqtt.batch", messages=len(batch), readings=outcome.readings,
                 stored=outcome.stored, ms=round((time.monotonic() - started) * 1000, 1))

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

    def _count(self, outcome, messages):
        self.counts.update(stored=outcome.stored, unchanged=outcome.unchanged,
                           duplicates=outcome.duplicates)
        for rejection in outcome.rejected:
            message = messages[rejection.message]
            where = {} if rejection.index is None else {"index": rejection.index}
            self._reject(rejection.kind, message.topic, message.key, rejection.reason,
                         count=rejection.readings, **where)

    def _reject(self, kind, topic, key, reason, count=1, **where):
        self.counts["rejected"] += count
        self.counts[f"rejected_{kind}"] += count
        _log(logging.WARNING, "mqtt.rejected", kind=kind, topic=topic, machine=key, **where,
             readings=count, reason=reason)


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
