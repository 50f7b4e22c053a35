"""Live updates: publish after commit → Redis pub/sub → each web process's hub → /ws."""

from .publish import pending_events, publish_after_commit, take_pending  # noqa: F401
from .renderers import (  # noqa: F401
    PER_USER,
    PER_VISIBILITY,
    live_global,
    live_renderer,
    live_resync,
    live_visibility,
)
