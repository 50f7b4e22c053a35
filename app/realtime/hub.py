"""One Redis subscriber per web process fanning events out to that process's sockets."""

import json
import logging
import queue
import threading
import time

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


class Subscription:
    def __init__(self, maxsize=500):
        self.queue = queue.Queue(maxsize=maxsize)
        # Set when events were dropped for a slow socket; the socket then resyncs.
        self.overflowed = False

    def offer(self, message):
        try:
            self.queue.put_nowait(message)
        except queue.Full:
            self.overflowed = True

    def get(self, timeout):
        return self.queue.get(timeout=timeout)


class Hub:
    def __init__(self, redis_url, prefix):
        self.redis_url = redis_url
        self.pattern = f"{prefix}:*"
        self.subscriptions = set()
        self.lock = threading.Lock()
        self.thread = None
        self.ready = threading.Event()
        self.stopped = threading.Event()
        self.pubsub = None

    def subscribe(self):
        sub = Subscription()
        with self.lock:
            self.subscriptions.add(sub)
            if self.thread is None or not self.thread.is_alive():
                self.ready.clear()
                self.thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
                self.thread.start()
        # The first socket waits for the subscription so it misses nothing sent after it.
        self.ready.wait(timeout=5)
        return sub

    def unsubscribe(self, sub):
        with self.lock:
            self.subscriptions.discard(sub)

    def stop(self):
        """End the listener thread (tests, and a clean shutdown)."""
        self.stopped.set()
        if self.pubsub is not None:
            self.pubsub.close()
        if self.thread is not None:
            self.thread.join(timeout=5)

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
        pubsub.psubscribe(self.pattern)
        # Wait for Redis to confirm before telling sockets we are live.
        confirmed = None
        while confirmed is None or confirmed["type"] != "psubscribe":
            confirmed = pubsub.get_message(timeout=1)
        self.ready.set()
        for raw in pubsub.listen():
            if self.stopped.is_set():
                return
            if raw.get("type") != "pmessage":
                continue
            self._fan_out(raw["data"])

    def _fan_out(self, data):
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("live hub ignored a message that is not JSON: %r", data[:200])
            return
        with self.lock:
            targets = list(self.subscriptions)
        for sub in targets:
            sub.offer(message)


def hub_for(app):
    hub = app.extensions.get("floorline_hub")
    if hub is None:
        hub = Hub(app.config["REDIS_URL"], app.config["LIVE_CHANNEL_PREFIX"])
        app.extensions["floorline_hub"] = hub
    return hub
