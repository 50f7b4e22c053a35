"""The navigation bar: each domain adds its own entries; the core knows none of them."""

from dataclasses import dataclass

from flask import url_for
from flask_login import current_user

ENTRIES = []


@dataclass(frozen=True)
class NavEntry:
    order: int           # place in the bar, left to right
    label: str
    endpoint: str
    roles: frozenset     # who sees the entry
    here: tuple          # endpoints (or "blueprint." prefixes) that light it up
    badge: str | None = None


def nav_entry(order, label, endpoint, roles, here=None, badge=None):
    """Add an entry to the navigation (called once by a domain's package)."""
    if any(e.endpoint == endpoint for e in ENTRIES):
        return
    here = here or (endpoint.split(".", 1)[0] + ".",)
    ENTRIES.append(NavEntry(order, label, endpoint, frozenset(roles), tuple(here), badge))
    ENTRIES.sort(key=lambda e: e.order)


def _is_here(entry, endpoint):
    return any(endpoint == h or (h.endswith(".") and endpoint.startswith(h))
               for h in entry.here)


def nav_items(endpoint):
    if not current_user.is_authenticated or current_user.needs_setup:
        return []
    return [{"label": e.label, "url": url_for(e.endpoint), "active": _is_here(e, endpoint),
             "badge": e.badge}
            for e in ENTRIES if current_user.role in e.roles]
