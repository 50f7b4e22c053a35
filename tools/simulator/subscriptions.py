"""The simulator's webhook subscriptions: in memory, mirrored to a JSON file.

The file (instance/simulator-subscriptions.json by default) holds the secrets Floorline
gave, so it is written with mode 0600, atomically, after every change; a restarted
simulator picks up where it stopped.
"""

import json
import logging
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Subscription:
    id: str
    machine_id: str
    callback_url: str
    secret: str
    created_at: str

    def public(self):
        """What the API shows: never the secret."""
        return {"id": self.id, "machine_id": self.machine_id, "callback_url": self.callback_url}


class SubscriptionStore:
    def __init__(self, path=None):
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._by_id = {}
        self._load()

    def _load(self):
        if self.path is None or not self.path.exists():
            return
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            self._by_id = {row["id"]: Subscription(**row) for row in rows}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring unreadable subscriptions file %s (%s); starting empty",
                        self.path, exc)
            self._by_id = {}

    def _save(self):
        if self.path is None:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump([asdict(s) for s in self._by_id.values()], handle, indent=1)
            os.replace(tmp, self.path)
        except OSError as exc:   # kept in memory; only a restart would lose it
            log.warning("cannot save subscriptions to %s: %s", self.path, exc)

    def upsert(self, machine_id, callback_url, secret):
        """(subscription, created): one subscription per machine and callback URL."""
        with self._lock:
            for sub in self._by_id.values():
                if sub.machine_id == machine_id and sub.callback_url == callback_url:
                    if sub.secret != secret:
                        sub.secret = secret      # a rotated secret replaces the old one
                        self._save()
                    return sub, False
            sub = Subscription(id=f"sub_{secrets.token_hex(8)}", machine_id=machine_id,
                               callback_url=callback_url, secret=secret,
                               created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            self._by_id[sub.id] = sub
            self._save()
            return sub, True

    def delete(self, subscription_id):
        with self._lock:
            if self._by_id.pop(subscription_id, None) is None:
                return False
            self._save()
            return True

    def all(self):
        with self._lock:
            return sorted(self._by_id.values(), key=lambda s: (s.machine_id, s.created_at, s.id))
