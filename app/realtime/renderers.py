"""Event name → function that renders the HTML fragment a user's open page should receive.

The contract that lets one render serve many sockets: a renderer's output may depend only
on the event and on what the renderer declares, so the fan-out renders it once for all the
sockets that would get the same bytes (an audience) instead of once per socket.

- `audience=PER_USER` (the default, always safe): who the user is — their counts, their
  notifications, the tasks assigned to them. An audience of one user.
- `audience=PER_VISIBILITY`: only the user's role and the machines they may see (which
  `live_visibility` tells). Users alike in both share one render.
- `by_page=True` (the default): also the socket's page (its ?resync= value). A renderer
  registered with `by_page=False` is called with page "" and shares a render across pages.

`current_user` in a template is the audience's user, and `csrf_token()` renders a
placeholder that each socket swaps for its own token, so forms in fragments keep working.
"""

from dataclasses import dataclass

PER_USER = "user"
PER_VISIBILITY = "visibility"


@dataclass(frozen=True)
class Renderer:
    fn: object
    audience: str
    by_page: bool

    def audience_of(self, user, visibility, page):
        """Sockets with equal keys get the same bytes from this renderer."""
        who = user.id if self.audience == PER_USER else (user.role, visibility)
        return who, self.page_for(page)

    def page_for(self, page):
        return (page or "") if self.by_page else ""


RENDERERS = {}


def live_renderer(*event_names, audience=PER_USER, by_page=True):
    """Register `fn(message, user, page) -> str | None` for these events (None: nothing).

    `page` is what the socket's page shows (its ?resync=... value, "" if nothing special),
    so a renderer sends only pieces that page has. `audience` and `by_page` say what else
    the output depends on (see the module's docstring).
    """
    if audience not in (PER_USER, PER_VISIBILITY):
        raise ValueError(f"unknown live audience {audience!r}")

    def decorator(fn):
        for name in event_names:
            RENDERERS.setdefault(name, []).append(Renderer(fn, audience, by_page))
        return fn
    return decorator


def renderers_for(message):
    return RENDERERS.get(message.get("event"), [])


def render_event(message, user, page=""):
    """Every renderer of one event for one user (no sharing: tests and one-off callers)."""
    parts = [r.fn(message, user, r.page_for(page)) for r in renderers_for(message)]
    return "".join(p for p in parts if p)


VISIBILITY = []


def live_visibility(fn):
    """Register `fn(users) -> {user_id: hashable}`: what of the plant each user may see
    beyond their role (e.g. their machines). Users with equal roles and values share
    PER_VISIBILITY renders; with nothing registered, nobody shares."""
    VISIBILITY.append(fn)
    return fn


def visibility_of(users):
    """{user_id: key} for these users, from every registered `live_visibility`."""
    if not VISIBILITY:
        return {user.id: user.id for user in users}
    keys = {user.id: () for user in users}
    for fn in VISIBILITY:
        for user_id, value in fn(users).items():
            keys[user_id] += (value,)
    return keys


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
