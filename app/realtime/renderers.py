"""Event name → function that renders the HTML fragment one user should receive."""

RENDERERS = {}


def live_renderer(*event_names):
    """Register `fn(message, user) -> str | None` for these events (None: nothing to send)."""
    def decorator(fn):
        for name in event_names:
            RENDERERS.setdefault(name, []).append(fn)
        return fn
    return decorator


def render_event(message, user):
    parts = [fn(message, user) for fn in RENDERERS.get(message.get("event"), [])]
    return "".join(p for p in parts if p)
