"""Pieces a domain adds to the layout of every page (base.html), e.g. andon's banner.

The layout belongs to the core and may not reach into a domain. A domain that shows
something on every page registers `fn(user) -> html` here when its package is imported,
and base.html renders what is registered. A registry rather than a context processor: a
context processor would run (and query) for every template rendered, partials and
socket fragments included, while the layout asks only when it draws a whole page.
"""

from markupsafe import Markup

_PIECES = []


def layout_piece(order):
    """Register the decorated `fn(user) -> html` (lower `order` comes first)."""
    def register(render):
        if not any(render is r for _order, r in _PIECES):
            _PIECES.append((order, render))
            _PIECES.sort(key=lambda piece: piece[0])
        return render
    return register


def layout_pieces(user):
    return Markup("\n".join(render(user) for _order, render in _PIECES))
