"""Hourly and daily roll-ups of the readings, kept by a job (app/jobs/rollups.py).

Readings are stored only when a value changes, and a reading may carry only some metrics,
so a metric's value holds until its next reading. An hour therefore belongs to a metric
from its first value on, readings or not: the hour where nothing changed gets a row with
the held value (low = high = the value, area = value × 3600).

Each machine has a rolled_to: every hour before it is right. A run of the job
1. takes a transaction-level advisory lock, so two workers never roll at the same time
   (the second returns at once and the next tick does the work);
2. looks for readings received since the watermark with a device time before the
   machine's rolled_to (late data: a gateway that was offline, a replayed batch) and moves
   that machine's rolled_to back to the late reading's hour;
3. recomputes each machine's hours from rolled_to up to the last whole hour (or the hour
   it was last heard from, so a silent machine's value does not run on for ever) from the
   readings, starting from the value the hour before closed with; rows are deleted and
   written again, so a rerun writes the same rows;
4. adds the whole UTC days it touched up from their hours into reading_days.

The watermark stops LAG short of now: a reading committed later than that after it was
received (a transaction open longer than LAG) could be missed; `flask telemetry rollups
rebuild` redoes any range.

PostgreSQL only: on other databases the chart reads the readings and nothing is rolled.
"""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from app.core.extensions import db
from app.core.models import as_utc, utcnow

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LAG = timedelta(seconds=30)
MAX_SPAN = timedelta(days=7)      # per machine and run: a long backlog is caught up in steps
MACHINES_PER_STATEMENT = 50       # bounds the work memory of one statement
LOCK_KEY = 0x726F6C6C7570         # "rollup": pg_advisory_xact_lock's key
WATERMARK = "readings"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def supported():
    return db.session.get_bind().dialect.name == "postgresql"


def floor_hour(value):
    return as_utc(value).astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(value):
    floored = floor_hour(value)
    return floored if floored == as_utc(value) else floored + HOUR


def floor_day(value):
    return floor_hour(value).replace(hour=0)


def ceil_day(value):
    floored = floor_day(value)
    return floored if floored == as_utc(value) else floored + DAY


# --- the statistics of windows of readings, per metric and hour --------------------------

# :windows is a JSON list of {machine_id, a, b, c0, c1, raw_open}: the readings of the
# machine with a <= ts < b, a on the hour; the value held at `a` comes from the roll-up of
# the hour before (or, with raw_open, from the last reading before `a`). Time and values
# count only within [c0, c1). One row per (window, metric, hour) that has a value.
STATS_SQL = """
WITH w AS (
  SELECT * FROM jsonb_to_recordset(CAST(:windows AS jsonb)) AS w(
    wid int, machine_id int, a timestamptz, b timestamptz, c0 timestamptz, c1 timestamptz,
    raw_open boolean)
),
points AS (
  SELECT w.wid, e.key AS metric, r.ts, false AS held,
         CASE jsonb_typeof(e.value) WHEN 'boolean' THEN (e.value = 'true'::jsonb)::int::float8
              ELSE (e.value #>> '{}')::float8 END AS v
  -- OFFSET 0 keeps each window an index range scan: the planner cannot see how few
  -- readings a window holds and would otherwise hash-join the whole table.
  FROM w CROSS JOIN LATERAL (SELECT ts, values FROM readings WHERE machine_id = w.machine_id
                             AND ts >= w.a AND ts < w.b OFFSET 0) AS r
  CROSS JOIN LATERAL jsonb_each(r.values) AS e
  WHERE jsonb_typeof(e.value) IN ('number', 'boolean')
  UNION ALL
  SELECT w.wid, h.metric, w.a, true, coalesce(h.last_value, h.open_value)
  FROM w JOIN reading_hours h ON h.machine_id = w.machine_id AND h.hour = w.a - interval '1 hour'
  WHERE NOT w.raw_open AND coalesce(h.last_value, h.open_value) IS NOT NULL
  UNION ALL
  SELECT held.* FROM w CROSS JOIN LATERAL (
    SELECT DISTINCT ON (e.key) w.wid, e.key, w.a, true,
           CASE jsonb_typeof(e.value) WHEN 'boolean' THEN (e.value = 'true'::jsonb)::int::float8
                ELSE (e.value #>> '{}')::float8 END
    FROM readings r CROSS JOIN LATERAL jsonb_each(r.values) AS e
    WHERE w.raw_open AND r.machine_id = w.machine_id AND r.ts < w.a
      AND jsonb_typeof(e.value) IN ('number', 'boolean')
    ORDER BY e.key, r.ts DESC) AS held
),
segments AS (  -- each value holds until the metric's next point, or to the window's end
  SELECT p.*, w.b, w.c0, w.c1,
         coalesce(lead(p.ts) OVER (PARTITION BY p.wid, p.metric ORDER BY p.ts, p.held DESC),
                  w.b) AS until
  FROM points p JOIN w USING (wid)
),
pieces AS (
  -- A segment cut at the hours; the hour where it ends is kept (0 s long) so that hour
  -- knows the value it opened with.
  SELECT s.wid, s.metric, s.ts, s.v, s.held, hr AS hour,
         (NOT s.held AND s.ts >= hr AND s.ts >= s.c0 AND s.ts < s.c1) AS counted,
         greatest(0, extract(epoch FROM least(s.until, hr + interval '1 hour', s.c1)
                                    - greatest(s.ts, hr, s.c0)))::float8 AS secs
  FROM segments s
  CROSS JOIN LATERAL generate_series(date_trunc('hour', s.ts, 'UTC'), s.until,
                                     interval '1 hour') AS hr
  WHERE hr < s.b
)
SELECT wid, metric, hour,
       count(*) FILTER (WHERE counted) AS readings,
       max(v) FILTER (WHERE held OR ts < hour) AS open_value,
       min(ts) FILTER (WHERE counted) AS first_ts,
       (array_agg(v ORDER BY ts) FILTER (WHERE counted))[1] AS first_value,
       max(ts) FILTER (WHERE counted) AS last_ts,
       (array_agg(v ORDER BY ts DESC) FILTER (WHERE counted))[1] AS last_value,
       (array_agg(ts ORDER BY v, ts) FILTER (WHERE counted))[1] AS min_ts,
       min(v) FILTER (WHERE counted) AS min_value,
       (array_agg(ts ORDER BY v DESC, ts) FILTER (WHERE counted))[1] AS max_ts,
       max(v) FILTER (WHERE counted) AS max_value,
       min(v) FILTER (WHERE secs > 0 OR counted) AS low,
       max(v) FILTER (WHERE secs > 0 OR counted) AS high,
       sum(v * secs) AS area,
       sum(secs) AS seconds
FROM pieces
GROUP BY wid, metric, hour
HAVING sum(secs) > 0 OR count(*) FILTER (WHERE counted) > 0
"""


@dataclass
class Window:
    machine_id: int
    a: datetime                  # on the hour
    b: datetime
    c0: datetime = None
    c1: datetime = None
    raw_open: bool = False

    def as_json(self, wid):
        return {"wid": wid, "machine_id": self.machine_id, "a": self.a.isoformat(),
                "b": self.b.isoformat(), "c0": (self.c0 or self.a).isoformat(),
                "c1": (self.c1 or self.b).isoformat(), "raw_open": self.raw_open}


def _windows_json(windows):
    return json.dumps([w.as_json(i) for i, w in enumerate(windows)])


def window_stats(windows):
    """Rows of STATS_SQL for the windows, each with `window` (the Window) set."""
    if not windows:
        return []
    rows = db.session.execute(text(STATS_SQL), {"windows": _windows_json(windows)}).mappings()
    return [{**row, "window": windows[row["wid"]]} for row in rows]


# --- the job -------------------------------------------------------------------------------

@dataclass
class RollupRun:
    machines: int = 0            # machines whose hours were (re)written
    hours: int = 0               # hour rows written
    late: list = field(default_factory=list)   # machines with late readings
    busy: bool = False           # another run held the lock


def roll_up(now=None, max_span=MAX_SPAN):
    """One run of the job (see the module's doc); the caller commits."""
    if not supported():
        return RollupRun()
    if not db.session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                              {"k": LOCK_KEY}).scalar():
        return RollupRun(busy=True)
    now = as_utc(now or utcnow())
    received_to = now - LAG
    watermark = db.session.execute(text(
        "SELECT received_to FROM rollup_watermarks WHERE name = :n"), {"n": WATERMARK}).scalar()
    late = _late_readings(watermark, received_to) if watermark else {}
    windows = _windows(now, late, max_span)
    run = RollupRun(late=sorted(m for m in late if any(w.machine_id == m for w in windows)))
    _rewrite(windows, run)
    if watermark is None or received_to > as_utc(watermark):
        db.session.execute(text(
            "INSERT INTO rollup_watermarks (name, received_to) VALUES (:n, :t) "
            "ON CONFLICT (name) DO UPDATE SET received_to = excluded.received_to"),
            {"n": WATERMARK, "t": received_to})
    return run


def _late_readings(watermark, received_to):
    """{machine_id: earliest device time} of readings received in (watermark, received_to]."""
    rows = db.session.execute(text(
        "SELECT machine_id, min(ts) FROM readings "
        "WHERE received_at > :low AND received_at <= :high GROUP BY machine_id"),
        {"low": watermark, "high": received_to}).all()
    return {machine_id: as_utc(ts) for machine_id, ts in rows}


def _windows(now, late, max_span, machine_ids=None):
    """The hours each machine needs (re)rolled: from rolled_to (or its first reading, or a
    late reading's hour) to the last whole hour, or the hour it was last heard from."""
    windows = []
    for machine_id, rolled_to, first_ts, seen in _machines():
        if machine_ids is not None and machine_id not in machine_ids:
            continue
        start = rolled_to or (floor_hour(first_ts) if first_ts else None)
        if start is None:
            continue
        if machine_id in late and late[machine_id] < start:
            start = floor_hour(late[machine_id])
        end = min(floor_hour(now), floor_hour(seen) + HOUR, start + max_span)
        if start < end:
            windows.append(Window(machine_id, start, end))
    return windows


def _machines():
    """(machine_id, rolled_to, first reading's time if never rolled, last heard from)."""
    rows = db.session.execute(text("""
        SELECT s.machine_id, p.rolled_to,
               CASE WHEN p.rolled_to IS NULL THEN
                 (SELECT min(r.ts) FROM readings r WHERE r.machine_id = s.machine_id) END,
               greatest(s.last_seen_at, s.reading_ts)
        FROM machine_states s LEFT JOIN rollup_progress p ON p.machine_id = s.machine_id
        WHERE s.last_seen_at IS NOT NULL OR s.reading_ts IS NOT NULL
        ORDER BY s.machine_id""")).all()
    return [(m, as_utc(r) if r else None, as_utc(f) if f else None, as_utc(s))
            for m, r, f, s in rows]


HOUR_COLUMNS = ("machine_id", "metric", "hour", "readings", "open_value", "first_ts",
                "first_value", "last_ts", "last_value", "min_ts", "min_value", "max_ts",
                "max_value", "low", "high", "area", "seconds")


def _rewrite(windows, run):
    """Delete and write again the hours and days of the windows; move rolled_to to their ends.

    Windows go in machine order, a few machines a statement, so the previous hour of each
    window (the value it opens with) is already right when it is read.
    """
    for i in range(0, len(windows), MACHINES_PER_STATEMENT):
        chunk = windows[i:i + MACHINES_PER_STATEMENT]
        params = {"windows": _windows_json(chunk)}
        # One statement per window: an index range scan each, never a scan of the table.
        starts = [{"m": w.machine_id, "a": w.a, "day": floor_day(w.a)} for w in chunk]
        db.session.execute(text(
            "DELETE FROM reading_hours WHERE machine_id = :m AND hour >= :a"), starts)
        db.session.execute(text(
            "DELETE FROM reading_days WHERE machine_id = :m AND day >= :day"), starts)
        columns = ", ".join(HOUR_COLUMNS)
        run.hours += db.session.execute(text(
            f"INSERT INTO reading_hours ({columns}) "
            f"SELECT w.machine_id, {columns.split(', ', 1)[1]} FROM ({STATS_SQL}) s "
            "JOIN jsonb_to_recordset(CAST(:windows AS jsonb)) AS w(wid int, machine_id int) "
            "USING (wid)"), params).rowcount
        _rewrite_days(params)
        db.session.execute(text(
            "INSERT INTO rollup_progress (machine_id, rolled_to) "
            "SELECT machine_id, b FROM jsonb_to_recordset(CAST(:windows AS jsonb)) "
            "AS w(machine_id int, b timestamptz) "
            "ON CONFLICT (machine_id) DO UPDATE SET rolled_to = excluded.rolled_to"), params)
        run.machines += len(chunk)


def _rewrite_days(params):
    """Whole UTC days from the window's first day up to its end, added up from the hours
    (later days, when late data moved a window back, were deleted until rolled again)."""
    db.session.execute(text("""
        INSERT INTO reading_days (machine_id, day, metric, readings, low, high, area, seconds)
        SELECT w.machine_id, date_trunc('day', h.hour, 'UTC'), h.metric, sum(h.readings),
               min(h.low), max(h.high), sum(h.area), sum(h.seconds)
        FROM jsonb_to_recordset(CAST(:windows AS jsonb)) AS w(machine_id int, a timestamptz,
                                                               b timestamptz)
        CROSS JOIN LATERAL (
          SELECT hour, metric, readings, low, high, area, seconds FROM reading_hours
          WHERE machine_id = w.machine_id AND hour >= date_trunc('day', w.a, 'UTC')
            AND hour < date_trunc('day', w.b, 'UTC') OFFSET 0) AS h
        GROUP BY 1, 2, 3"""), params)


# --- rebuilding a range ------------------------------------------------------------------------

def rebuild(start, machine_ids=None):
    """Roll again every hour from `start` on (for the machines given, else all): their
    rolled_to moves back to start's hour and the job's steps run until nothing is left.
    Returns the hour rows written. Waits for a running job instead of skipping."""
    if not supported():
        return 0
    db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    start = floor_hour(start)
    only = "" if machine_ids is None else "AND machine_id = ANY(:ids)"
    # A machine never rolled starts at its first reading anyway.
    db.session.execute(text(
        f"UPDATE rollup_progress SET rolled_to = :start WHERE rolled_to > :start {only}"),
        {"start": start, "ids": list(machine_ids or [])})
    written = 0
    while True:
        run = _roll_locked(machine_ids)
        written += run.hours
        if not run.machines:
            return written


def _roll_locked(machine_ids):
    """roll_up's step 3 for some machines, without the watermark (rebuild holds the lock)."""
    run = RollupRun()
    _rewrite(_windows(utcnow(), {}, MAX_SPAN, machine_ids), run)
    return run


def rolled_to(machine_ids):
    """{machine_id: rolled_to} for the machines that have roll-ups."""
    if not supported() or not machine_ids:
        return {}
    rows = db.session.execute(text(
        "SELECT machine_id, rolled_to FROM rollup_progress WHERE machine_id = ANY(:ids)"),
        {"ids": list(machine_ids)}).all()
    return {m: as_utc(t) for m, t in rows}


def reroll_from(machine_id, ts):
    """A stored reading at `ts` was corrected or deleted: the machine's hours from that
    hour on are rolled again by the next run (the late-data scan sees only new readings)."""
    if not supported():
        return
    db.session.execute(text(
        "UPDATE rollup_progress SET rolled_to = least(rolled_to, :hour) "
        "WHERE machine_id = :m"), {"m": machine_id, "hour": floor_hour(ts)})
