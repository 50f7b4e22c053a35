"""Live updates: publish after commit → Redis pub/sub → each web process's hub → /ws."""

from .publish import pending_events, publish_after_commit, publish_now  # noqa: F401
from .renderers import live_global, live_renderer, live_resync  # noqa: F401
