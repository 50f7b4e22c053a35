"""One Redis subscriber and one render thread per web process.

The listener thread takes each commit's message (a list of events) off Redis and hands it,
with the sockets open at that moment, to the render thread; that renders it once per
audience (fanout.py) and puts the HTML on each socket's queue for its own thread to send.
"""

import contextlib
import json
import logging
import queue
import threading
import time

from redis import Redis
from redis.exceptions import RedisError

from .fanout import fan_out
from .publish import live_channel

log = logging.getLogger(__name__)
# Batches waiting for the render thread; beyond this they are dropped (and logged).
RENDER_BACKLOG = 1000


class Subscription:
    """One open socket as the hub sees it: whose it is, what page it shows, its outbox."""

    def __init__(self, user_id, session_version, page="", url_root="/", maxsize=500):
        self.user_id = user_id
        self.session_version = session_version
        self.page = page or ""
        self.url_root = url_root
        self.queue = queue.Queue(maxsize=maxsize)
        # Set when the user's session ended (deactivated, logged out elsewhere).
        self.ended = False
        # Set when fragments were dropped for a slow socket.
        self.overflowed = False

    def deliver(self, html):
        try:
            self.queue.put_nowait(html)
        except queue.Full:
            self.overflowed = True

    def end(self):
        self.ended = True
        self.deliver(None)  # wakes the socket's thread at once

    def get(self, timeout):
        return self.queue.get(timeout=timeout)


class Hub:
    def __init__(self, app):
        self.app = app
        self.redis_url = app.config["REDIS_URL"]
        self.channel = live_channel(app.config["LIVE_CHANNEL_PREFIX"])
        self.subscriptions = set()
        self.lock = threading.Lock()
        self.thread = None
        self.renderer = None
        self.batches = queue.Queue(maxsize=RENDER_BACKLOG)
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.pubsub = None

    def subscribe(self, user_id, session_version, page="", url_root="/"):
        return self.attach(Subscription(user_id, session_version, page, url_root))

    def attach(self, sub):
        """Listen for `sub`: a Subscription, or one with its own `fan_out` (the API's)."""
        with self.lock:
            self.subscriptions.add(sub)
            self._start_threads()
        # The first socket waits for the subscription so it misses nothing sent after it.
        self.ready.wait(timeout=5)
        return sub

    def _start_threads(self):
        if self.renderer is None or not self.renderer.is_alive():
            self.renderer = threading.Thread(target=self._render, name="live-render",
                                             daemon=True)
            self.renderer.start()
        if self.thread is None or not self.thread.is_alive():
            self.ready.clear()
            self.thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
            self.thread.start()

    def unsubscribe(self, sub):
        with self.lock:
            self.subscriptions.discard(sub)

    def stop(self):
        """End the listener and render threads (tests, and a clean shutdown)."""
        self.stopped.set()
        if self.pubsub is not None:
            self.pubsub.close()
        with contextlib.suppress(queue.Full):
            self.batches.put_nowait(None)  # wakes the render thread; a full queue needs none
        for thread in (self.thread, self.renderer):
            if thread is not None:
                thread.join(timeout=5)

    def _run(self):
        failures = 0
        while not self.stopped.is_set():
            try:
                self._listen()
            except (RedisError, OSError, ValueError, AttributeError):
                if self.stopped.is_set():
                    return
                failures += 1
                # One warning per outage, not one a second.
                if failures == 1:
                    log.warning("live hub lost Redis; retrying every second", exc_info=True)
                time.sleep(1)
            else:
                failures = 0

    def _listen(self):
        client = Redis.from_url(self.redis_url, health_check_interval=30)
        pubsub = self.pubsub = client.pubsub()
        pubsub.subscribe(self.channel)
        # Wait for Redis to confirm before telling sockets we are live.
        confirmed = None
        while confirmed is None or confirmed["type"] != "subscribe":
            confirmed = pubsub.get_message(timeout=1)
        self.ready.set()
        for raw in pubsub.listen():
            if self.stopped.is_set():
                return
            if raw.get("type") == "message":
                self._enqueue(raw["data"])

    def _enqueue(self, data):
        try:
            events = json.loads(data)
        except ValueError:
            log.warning("live hub ignored a message that is not JSON: %r", data[:200])
            return
        with self.lock:
            # The sockets open now: one that opens later resyncs instead.
            listeners = list(self.subscriptions)
        if not listeners:
            return
        try:
            self.batches.put_nowait((events, listeners))
        except queue.Full:
            log.warning("live hub dropped %d events: the render thread is behind", len(events))

    def _render(self):
        while not self.stopped.is_set():
            batch = self.batches.get()
            if batch is None:
                return
            events, listeners = batch
            with self.lock:
                # A socket closed while the batch waited needs nothing rendered.
                listeners = [sub for sub in listeners if sub in self.subscriptions]
            try:
                if listeners:
                    dispatch(self.app, events, listeners)
            except Exception:
                log.exception("live hub could not render %d events", len(events))


def dispatch(app, events, listeners):
    """Pages' sockets get HTML (fan_out); a subscription with a `fan_out` of its own (the
    JSON API's socket) gets its kind of message from it."""
    kinds = {}
    for sub in listeners:
        kinds.setdefault(getattr(sub, "fan_out", fan_out), []).append(sub)
    for deliver, subs in kinds.items():
        deliver(app, events, subs)


def hub_for(app):
    hub = app.extensions.get("floorline_hub")
    if hub is None:
        hub = Hub(app)
        app.extensions["floorline_hub"] = hub
    return hub
