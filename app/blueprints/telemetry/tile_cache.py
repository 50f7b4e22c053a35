"""Machine tiles as shared HTML fragments, kept in Redis for every web process.

A tile is drawn from one row (the machine, its type, its latest state). Each fragment is
stored under a version made of everything it shows — code, name, location, status, the
type's name and metrics, the latest values, trend, last seen, reachability, whether it
has gone silent — so a cached tile is used only while what it shows is still true: a
rename, a retirement, a new reading or an edited metric changes the version, and the
next page or live event draws that tile again. Nothing has to remember to invalidate.

The plant page joins the cached fragments instead of rendering 500 tiles; the live
fan-out renders a changed tile once and every process and page after it reuses it.
"Last seen … ago" changes with every reading and every minute, so fragments carry a
marker there (tiles.SEEN_MARK) that `finish` fills in as each page goes out.
"""

import hashlib
import json
import logging
from pathlib import Path

from flask import current_app, render_template, request, url_for
from markupsafe import Markup
from redis.exceptions import RedisError
from sqlalchemy import Text, cast, select
from sqlalchemy.orm import selectinload

from app.blueprints.machines.models import Machine, MachineType
from app.core.extensions import db, redis_client
from app.core.models import utcnow
from app.core.templating import time_ago

from .models import MachineState
from .tiles import SEEN_MARK, TypeFacts, build_tile, live_status

log = logging.getLogger(__name__)
OOB = ' hx-swap-oob="true"'
# Between tiles rendered together; like the marker, no escaped text can contain it.
SEPARATOR = "<!--/tile-->"
# A hash of the code and template that draw a tile: a deploy that changes them starts
# afresh instead of serving fragments drawn the old way.
_SOURCES = ("tiles.py", "tile_cache.py", "live_values.py",
            "../../templates/telemetry/_tile.html", "../../templates/telemetry/_tiles.html")
CODE_VERSION = hashlib.blake2b(b"".join(
    (Path(__file__).parent / name).read_bytes() for name in _SOURCES), digest_size=6).hexdigest()
# Unused fragments (a machine deleted, an old deploy's) go with the key after a week.
KEEP_SECONDS = 7 * 24 * 3600

COLUMNS = (Machine.id, Machine.line_id, Machine.code, Machine.name, Machine.location,
           Machine.status, Machine.machine_type_id,
           cast(MachineState.values, Text).label("values_text"),
           cast(MachineState.trend, Text).label("trend_text"),
           MachineState.last_seen_at, MachineState.reachable)


def tile_rows(where=None):
    """Every machine a tile needs, in code order, one Core query (`where`: a filter on
    Machine, e.g. Machine.id.in_(ids))."""
    stmt = select(*COLUMNS).outerjoin(MachineState, MachineState.machine_id == Machine.id)
    if where is not None:
        stmt = stmt.where(where)
    return db.session.execute(stmt.order_by(Machine.code)).all()


class _Row:
    """A tile row with its JSON columns decoded, as tiles.build_tile reads it."""

    def __init__(self, row):
        self.id, self.code, self.name, self.location = row.id, row.code, row.name, row.location
        self.status, self.last_seen_at, self.reachable = (row.status, row.last_seen_at,
                                                          row.reachable)
        self.values = json.loads(row.values_text) if row.values_text else {}
        self.trend = json.loads(row.trend_text) if row.trend_text else []


def _types(type_ids):
    """{type id: (TypeFacts, version text)} for these machine types (two queries)."""
    types = db.session.scalars(select(MachineType).where(MachineType.id.in_(type_ids))
                               .options(selectinload(MachineType.metrics))).all()
    out = {}
    for t in types:
        metrics = [(m.key, m.label, m.unit, m.kind, m.normal_min, m.normal_max, m.role,
                    m.position, m.id) for m in t.metrics]
        out[t.id] = TypeFacts.of(t), repr((t.name, metrics))
    return out


def _version(row, type_version, now):
    """Everything the tile shows, hashed: equal versions draw equal HTML."""
    # Not the time last seen itself: the tile shows it through SEEN_MARK (see finish).
    live = live_status(row.last_seen_at, row.reachable, now)
    text = "\x1f".join(map(str, (row.code, row.name, row.location, row.status, type_version,
                                 row.values_text, row.trend_text, live,
                                 row.last_seen_at is None)))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def _cache_key():
    # The links in a tile depend on where the app is mounted.
    return (f"{current_app.config['LIVE_CHANNEL_PREFIX']}:tiles:{CODE_VERSION}:"
            f"{request.script_root or '/'}")


def _read(key, ids):
    """{id: (version, html)} of the cached fragments; {} when Redis is unavailable."""
    if not ids:
        return {}
    try:
        raw = redis_client().hmget(key, [str(i) for i in ids])
    except RedisError:
        log.warning("tile cache unavailable: drawing the tiles afresh", exc_info=True)
        return {}
    out = {}
    for machine_id, value in zip(ids, raw, strict=True):
        if value is not None:
            version, _, html = value.decode().partition("\n")
            out[machine_id] = version, html
    return out


def _write(key, fragments):
    if not fragments:
        return
    try:
        pipe = redis_client().pipeline(transaction=False)
        pipe.hset(key, mapping={str(i): f"{v}\n{html}" for i, (v, html) in fragments.items()})
        pipe.expire(key, KEEP_SECONDS)
        pipe.execute()
    except RedisError:
        log.warning("tile cache unavailable: %d tiles not kept", len(fragments), exc_info=True)


def _render(rows, types, now):
    """{id: html} for these rows, in one template render (tiles split at SEPARATOR)."""
    href = url_for("machines.show", machine_id=0)[:-1]  # route ends in the id
    tiles = [build_tile(_Row(row), types[row.machine_type_id][0], f"{href}{row.id}", now)
             for row in rows]
    html = render_template("telemetry/_tiles.html", tiles=tiles, oob=True, separator=SEPARATOR)
    return dict(zip((row.id for row in rows), html.split(SEPARATOR)[:-1], strict=True))


def fragments(rows, now=None):
    """{machine id: raw fragment} for these tile rows: from the cache where its version
    still matches, drawn (and kept) otherwise. Raw fragments still need `finish`."""
    now = now or utcnow()
    types = _types({row.machine_type_id for row in rows})
    versions = {row.id: _version(row, types[row.machine_type_id][1], now) for row in rows}
    key = _cache_key()
    cached = _read(key, list(versions))
    out, stale = {}, []
    for row in rows:
        hit = cached.get(row.id)
        if hit is not None and hit[0] == versions[row.id]:
            out[row.id] = hit[1]
        else:
            stale.append(row)
    if stale:
        drawn = _render(stale, types, now)
        _write(key, {i: (versions[i], html) for i, html in drawn.items()})
        out.update(drawn)
    return out


def finish(raw, last_seen_at, oob=False):
    """A raw fragment as it goes out now: "last seen … ago" filled in, and the
    out-of-band swap attribute kept only for live frames."""
    if last_seen_at is not None:
        raw = raw.replace(SEEN_MARK, time_ago(last_seen_at), 1)
    return raw if oob else raw.replace(OOB, "", 1)


def joined(rows, oob=False, now=None):
    """The tiles of these rows, in their order, as one piece of HTML."""
    raw = fragments(rows, now)
    return Markup("".join(finish(raw[row.id], row.last_seen_at, oob) for row in rows))


def tiles_html(ids, oob=False):
    """{machine id: finished tile HTML} for these machines (those that exist)."""
    if not ids:
        return {}
    rows = tile_rows(Machine.id.in_(list(ids)))
    raw = fragments(rows)
    return {row.id: Markup(finish(raw[row.id], row.last_seen_at, oob)) for row in rows}
