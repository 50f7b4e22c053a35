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
import logging
import time
from pathlib import Path

from flask import current_app, render_template, request, url_for
from markupsafe import Markup
from redis.exceptions import RedisError
from sqlalchemy import Text, cast, func, select

from app.blueprints.machines.models import Machine, MachineType, Metric
from app.core.extensions import db, redis_client
from app.core.models import utcnow
from app.core.templating import time_ago

from .models import MachineState
from .tiles import SEEN_MARK, TypeFacts, build_tile, live_status, silent_before

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

SEP = "\x1f"


def _content():
    """Everything of the machine and its state that a tile shows, as one text column
    (on PostgreSQL its md5, so 500 rows carry 32 characters each, not their JSON)."""
    parts = (Machine.code, Machine.name, Machine.location, Machine.status,
             cast(MachineState.values, Text), cast(MachineState.trend, Text))
    text = parts[0]
    for part in parts[1:]:
        text = text.op("||")(SEP).op("||")(func.coalesce(part, "\x1e"))
    return (func.md5(text) if db.engine.dialect.name == "postgresql" else text).label("content")


def tile_rows(where=None):
    """The machines of a page of tiles, in code order: what decides whether a cached tile
    still holds (one Core query; `where` filters Machine, e.g. Machine.id.in_(ids))."""
    stmt = select(Machine.id, Machine.line_id, Machine.code, Machine.machine_type_id,
                  MachineState.last_seen_at, MachineState.reachable, _content()
                  ).outerjoin(MachineState, MachineState.machine_id == Machine.id)
    if where is not None:
        stmt = stmt.where(where)
    return db.session.execute(stmt.order_by(Machine.code)).all()


def _drawing_rows(ids):
    """{id: row} with what drawing these tiles needs (only for tiles not in the cache)."""
    stmt = select(Machine.id, Machine.code, Machine.name, Machine.location, Machine.status,
                  Machine.machine_type_id, MachineState.values, MachineState.trend,
                  MachineState.last_seen_at, MachineState.reachable, _content()
                  ).outerjoin(MachineState, MachineState.machine_id == Machine.id
                              ).where(Machine.id.in_(ids))
    return {row.id: row for row in db.session.execute(stmt)}


METRIC_COLUMNS = (Metric.key, Metric.label, Metric.unit, Metric.kind, Metric.normal_min,
                  Metric.normal_max, Metric.role, Metric.position, Metric.id)
# {type version: TypeFacts}: worked out again only when a type or its metrics change.
_FACTS = {}


def _types(type_ids):
    """{type id: (TypeFacts, version text)} for these machine types: one Core query; the
    version is every field of the type and its metrics that a tile can show."""
    rows = db.session.execute(
        select(MachineType.id, MachineType.name, *METRIC_COLUMNS)
        .outerjoin(Metric, Metric.machine_type_id == MachineType.id)
        .where(MachineType.id.in_(type_ids))
        .order_by(MachineType.id, Metric.position, Metric.id)).all()
    by_type = {}
    for row in rows:
        by_type.setdefault((row[0], row[1]), []).append(tuple(row[2:]))
    out = {}
    for (type_id, name), metrics in by_type.items():
        version = repr((name, [m for m in metrics if m[-1] is not None]))
        if version not in _FACTS:
            if len(_FACTS) > 1000:
                _FACTS.clear()
            _FACTS[version] = _facts(name, metrics)
        out[type_id] = _FACTS[version], version
    return out


def _facts(name, metrics):
    """TypeFacts from plain rows, through a MachineType that lives only here (never added
    to the session), so the choice of tile metrics stays in one place (models.py)."""
    machine_type = MachineType(name=name)
    machine_type.metrics = [Metric(**dict(zip((c.key for c in METRIC_COLUMNS), m,
                                              strict=True)))
                            for m in metrics if m[-1] is not None]
    return TypeFacts.of(machine_type)


def _versions(rows, types, now):
    """{id: version}: everything each tile shows, hashed; equal versions draw equal HTML.
    Not the time last seen itself: the tile shows it through SEEN_MARK (see finish), and
    only whether it is long enough ago to call the machine silent."""
    cutoff = silent_before(now)
    type_digest = {type_id: _digest(version) for type_id, (_, version) in types.items()}
    out = {}
    for row in rows:
        live = live_status(row.last_seen_at, row.reachable, cutoff)
        content = row.content if len(row.content) == 32 else _digest(row.content)
        out[row.id] = f"{content}.{type_digest[row.machine_type_id]}.{live}"
    return out


def _digest(text):
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
            version, _, html = value.partition(b"\n")
            out[machine_id] = version.decode(), html
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


def _render(ids, types, now):
    """{id: (version, html)} for these machines, drawn in one template render (tiles split
    at SEPARATOR). Each version is worked out from the very row drawn, so a fragment is
    never kept under a version of other content (a change between two queries)."""
    href = url_for("machines.show", machine_id=0)[:-1]  # route ends in the id
    rows = list(_drawing_rows(ids).values())  # a machine deleted since: nothing to draw
    cutoff = silent_before(now)
    tiles = [build_tile(row, types[row.machine_type_id][0], f"{href}{row.id}", cutoff)
             for row in rows]
    html = render_template("telemetry/_tiles.html", tiles=tiles, oob=True, separator=SEPARATOR)
    versions = _versions(rows, types, now)
    return {row.id: (versions[row.id], piece)
            for row, piece in zip(rows, html.split(SEPARATOR)[:-1], strict=True)}


def fragments(rows, now=None):
    """{machine id: raw fragment} for these tile rows: from the cache where its version
    still matches, drawn (and kept) otherwise. Raw fragments still need `finish`."""
    now = now or utcnow()
    types = _types({row.machine_type_id for row in rows})
    versions = _versions(rows, types, now)
    key = _cache_key()
    cached = _read(key, list(versions))
    out, stale = {}, []
    for row in rows:
        hit = cached.get(row.id)
        if hit is not None and hit[0] == versions[row.id]:
            out[row.id] = hit[1].decode()
        else:
            stale.append(row.id)
    if stale:
        out.update(_draw_or_wait(key, stale, versions, types, now))
    return out


def _draw_or_wait(key, ids, versions, types, now):
    """{id: html} for tiles not in the cache. Every web process's hub gets each event at
    the same moment: the first to claim a tile draws it, the others wait for it rather
    than draw it again (a 480-reading batch is ~480 tiles for the whole plant, not per
    process). A claim lapses after CLAIM_MS, so a process that dies holds nothing up."""
    mine, theirs = _claim(key, ids, versions)
    out = {}
    if mine:
        drawn = _render(mine, types, now)
        _write(key, drawn)
        out.update((i, html) for i, (_, html) in drawn.items())
    if theirs:
        out.update(_wait_for(key, theirs, versions))
        left = [i for i in theirs if i not in out]
        if left:  # the other process was slower than CLAIM_MS, or its tile changed again
            out.update((i, html) for i, (_, html) in _render(left, types, now).items())
    return out


CLAIM_MS = 1000
WAIT_STEP = 0.005


def _claim(key, ids, versions):
    """(ids this process draws, ids another one is drawing)."""
    try:
        pipe = redis_client().pipeline(transaction=False)
        for i in ids:
            pipe.set(f"{key}:drawing:{i}:{versions[i]}", 1, nx=True, px=CLAIM_MS)
        won = pipe.execute()
    except RedisError:
        return ids, []
    return ([i for i, ok in zip(ids, won, strict=True) if ok],
            [i for i, ok in zip(ids, won, strict=True) if not ok])


def _wait_for(key, ids, versions):
    """{id: html} of the tiles another process is drawing, as they arrive in the cache."""
    out, deadline = {}, time.monotonic() + CLAIM_MS / 1000
    while len(out) < len(ids) and time.monotonic() < deadline:
        time.sleep(WAIT_STEP)
        left = [i for i in ids if i not in out]
        for i, (version, html) in _read(key, left).items():
            if version == versions[i]:
                out[i] = html.decode()
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
    return Markup("".join(finish(raw[row.id], row.last_seen_at, oob) for row in rows
                          if row.id in raw))


def tiles_html(ids, oob=False):
    """{machine id: finished tile HTML} for these machines (those that exist)."""
    if not ids:
        return {}
    rows = tile_rows(Machine.id.in_(list(ids)))
    raw = fragments(rows)
    return {row.id: Markup(finish(raw[row.id], row.last_seen_at, oob)) for row in rows
            if row.id in raw}
