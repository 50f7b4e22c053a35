"""Event name → function that renders the HTML fragment one user should receive."""

RENDERERS = {}


def live_renderer(*event_names):
    """Register `fn(message, user, page) -> str | None` for these events (None: nothing).

    `page` is what the socket's page shows (its ?resync=... value, "" if nothing special),
    so a renderer sends only pieces that page has.
    """
    def decorator(fn):
        for name in event_names:
            RENDERERS.setdefault(name, []).append(fn)
        return fn
    return decorator


def render_event(message, user, page=""):
    parts = [fn(message, user, page or "") for fn in RENDERERS.get(message.get("event"), [])]
    return "".join(p for p in parts if p)


RESYNCS = {}


def live_resync(name):
    """Register `fn(user, arg, since) -> str` for sockets opened with ?resync=name[:arg].

    `since` (the page's render time, from &since=, or None) lets a renderer send only what
    changed after the page was drawn, so a first connect costs next to nothing and a
    reconnect brings back exactly what was missed.

    A page that shows live pieces asks for their current state when its socket
    (re)connects, so a tablet coming back from sleep shows now, not a gap.
    """
    def decorator(fn):
        RESYNCS[name] = fn
        return fn
    return decorator


def render_resync(spec, user, since=None):
    name, _, arg = (spec or "").partition(":")
    fn = RESYNCS.get(name)
    return fn(user, arg, since) if fn else ""


GLOBALS = []


def live_global(fn):
    """Register `fn(user, since) -> str`, sent on every socket (re)connect whatever the page:
    pieces every screen has (navigation badges, the andon banner)."""
    GLOBALS.append(fn)
    return fn


def render_globals(user, since=None):
    return "".join(part for fn in GLOBALS if (part := fn(user, since)))
