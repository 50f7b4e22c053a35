"""One row for an endpoint: 404 when there is none, 403 when the token's user may not see it
(the same check the pages make)."""

from flask import g, url_for

from app.core.extensions import db

from . import bp
from .errors import JsonError
from .schemas import valid_id


def get_visible(model, ident, name, may_see=None, refusal=""):
    """The `model` row `ident`, or a JSON 404 naming the `name`; a 403 saying `refusal` when
    `may_see(user, row)` is false."""
    row = db.session.get(model, ident) if valid_id(ident) else None
    if row is None:
        raise JsonError(404, "not_found", f"No {name} with id {ident}.")
    if may_see is not None and not may_see(g.api_user, row):
        raise JsonError(403, "forbidden", refusal)
    return row


def created(row, endpoint, **ids):
    """Commit a row the request made; 201 with where to find it (`endpoint` with `ids`)."""
    db.session.commit()
    return row, {"Location": url_for(endpoint, **ids)}


def changed(row, schema, change):
    """`change(row)` if the client's If-Match is `row`'s ETag (else 412/428), committed."""
    bp.check_etag(row, schema)
    change(row)
    db.session.commit()
    return row
