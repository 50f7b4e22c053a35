"""A machine's chart: the series of each metric over a time range.

Readings are stored only when values change, and a reading may carry only some metrics: a
metric's value holds until the next reading that has it. So a chart series is a step line
that starts with the value held when the range begins and runs on to the last time the
machine was heard from.

Long ranges are thinned in the database, never in Python: the range is cut into BUCKETS
equal intervals and each interval keeps its first, last, lowest and highest value (M4
downsampling), so at most 4 × BUCKETS points leave the database, a one-second spike still
shows and the line between intervals carries the right value.

Ranges longer than ROLLUP_AFTER read their whole hours from the hourly roll-ups
(rollups.py), which keep the same four points per hour; buckets are then whole hours, and
the part hour at the start and the hours not rolled yet (the latest one) come from the
readings. A month is ~720 small rows per metric instead of every reading.
"""

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Integer, and_, cast, extract, func, literal, or_, select, text

from app.core.extensions import db
from app.core.models import as_utc

from .live_values import boolean_words
from .models import Reading, ReadingHour
from .ranges import PRESET_LABELS, TimeRange
from .rollups import HOUR, ceil_hour, floor_hour, rolled_to

MAX_POINTS = 2000
BUCKETS = MAX_POINTS // 4     # first, last, min and max per bucket
CHARTABLE = ("number", "boolean")
ROLLUP_AFTER = timedelta(days=2)   # longer ranges read whole hours from the roll-ups


# --- SQL pieces that differ between PostgreSQL and SQLite ---------------------------------

def _dialect():
    return db.session.get_bind().dialect.name


def _json_type_is(metric):
    """Readings that carry this metric with a value of its kind (old readings may not)."""
    if _dialect() == "postgresql":
        kind = "number" if metric.kind == "number" else "boolean"
        return func.jsonb_typeof(Reading.values.op("->")(metric.key)) == kind
    kinds = ("integer", "real") if metric.kind == "number" else ("true", "false")
    return func.json_type(Reading.values, f'$."{metric.key}"').in_(kinds)


def _value(metric):
    if metric.kind == "boolean":
        return cast(Reading.values[metric.key].as_boolean(), Integer)
    return Reading.values[metric.key].as_float()


def _bucket(start, end, buckets):
    """The bucket number 0 … buckets-1 of Reading.ts within [start, end)."""
    span = (end - start).total_seconds()
    if _dialect() == "postgresql":
        seconds = extract("epoch", Reading.ts) - start.timestamp()
        return func.floor(seconds * buckets / span)
    seconds = (func.julianday(Reading.ts) - 2440587.5) * 86400.0 - start.timestamp()
    return cast(seconds * buckets / span, Integer)


# --- chart series ------------------------------------------------------------------------

def chartable_metrics(machine):
    return [m for m in machine.machine_type.metrics if m.kind in CHARTABLE]


def chosen_metrics(machine, keys):
    """The metrics asked for (in the type's order); none asked for means all of them."""
    metrics = chartable_metrics(machine)
    wanted = {k for k in keys if k}
    chosen = [m for m in metrics if m.key in wanted]
    return chosen or metrics


@dataclass
class Series:
    metric: object
    xs: list = field(default_factory=list)      # Unix seconds
    ys: list = field(default_factory=list)      # floats; booleans as 0/1
    stored: int = 0                              # readings with this metric in the range
    shown: int = 0                               # of them, kept for the chart
    downsampled: bool = False

    @property
    def empty(self):
        return not any(y is not None for y in self.ys)


def _epoch(value):
    return as_utc(value).timestamp()


def metric_series(machine, metric, start, end, until=None, buckets=BUCKETS, rolled=None):
    """The step series of one metric in [start, end): held value at start, then changes.

    `until` is when the machine was last heard from: the last value is drawn up to it (or
    to `end`), never beyond, so a silent machine's line stops where it went quiet.
    `rolled` is the machine's rolled_to: a range longer than ROLLUP_AFTER with whole hours
    rolled before it reads those hours from the roll-ups (see rollup_points).
    """
    if use_rollups(start, end, rolled):
        return rollup_series(machine, [metric], start, end, until, rolled)[0]
    held = _held_before(machine, metric, start)
    rows, total = _raw_points(machine, metric, start, end, buckets)
    return _step_series(metric, held, rows, total, start, end, until)


def use_rollups(start, end, rolled):
    return rolled is not None and end - start > ROLLUP_AFTER \
        and ceil_hour(start) < floor_hour(min(end, rolled))


def _mine(machine, metric):
    return and_(Reading.machine_id == machine.id, _json_type_is(metric))


def _held_before(machine, metric, start):
    return db.session.execute(
        select(_value(metric)).where(_mine(machine, metric), Reading.ts < start)
        .order_by(Reading.ts.desc()).limit(1)).scalar()


def _raw_points(machine, metric, start, end, buckets):
    """([(ts, value)], readings in the range): each bucket's first, last, lowest and highest."""
    value = _value(metric)
    inner = (select(Reading.ts.label("ts"), value.label("v"),
                    _bucket(start, end, buckets).label("b"))
             .where(_mine(machine, metric), Reading.ts >= start, Reading.ts < end).subquery())
    ranked = select(
        inner.c.ts, inner.c.v,
        func.row_number().over(partition_by=inner.c.b, order_by=inner.c.ts).label("first"),
        func.row_number().over(partition_by=inner.c.b, order_by=inner.c.ts.desc())
        .label("last"),
        func.row_number().over(partition_by=inner.c.b, order_by=(inner.c.v, inner.c.ts))
        .label("low"),
        func.row_number().over(partition_by=inner.c.b, order_by=(inner.c.v.desc(), inner.c.ts))
        .label("high"),
        func.count(literal(1)).over().label("total"),
    ).subquery()
    rows = db.session.execute(
        select(ranked.c.ts, ranked.c.v, ranked.c.total)
        .where(or_(ranked.c.first == 1, ranked.c.last == 1, ranked.c.low == 1,
                   ranked.c.high == 1))
        .order_by(ranked.c.ts)).all()
    return [(row.ts, row.v) for row in rows], (rows[0].total if rows else 0)


# --- long ranges from the hourly roll-ups (PostgreSQL) ---------------------------------------

# M4 of every metric asked for at once: one statement for the part hours at the ends.
RAW_M4_SQL = """
WITH p AS (
  SELECT r.ts, e.key,
         CASE WHEN jsonb_typeof(e.value) = 'boolean' THEN (e.value = 'true'::jsonb)::int::float8
              ELSE (e.value #>> '{}')::float8 END AS v,
         floor((extract(epoch FROM r.ts) - :s) * :buckets / :span) AS b
  FROM readings r CROSS JOIN LATERAL jsonb_each(r.values) AS e
  WHERE r.machine_id = :m AND r.ts >= :start AND r.ts < :end
    AND ((e.key = ANY(:numbers) AND jsonb_typeof(e.value) = 'number')
         OR (e.key = ANY(:flags) AND jsonb_typeof(e.value) = 'boolean'))
), ranked AS (
  SELECT key, ts, v,
         row_number() OVER (PARTITION BY key, b ORDER BY ts) AS f,
         row_number() OVER (PARTITION BY key, b ORDER BY ts DESC) AS l,
         row_number() OVER (PARTITION BY key, b ORDER BY v, ts) AS lo,
         row_number() OVER (PARTITION BY key, b ORDER BY v DESC, ts) AS hi,
         count(*) OVER (PARTITION BY key) AS total
  FROM p)
SELECT key, ts, v, total FROM ranked WHERE f = 1 OR l = 1 OR lo = 1 OR hi = 1 ORDER BY key, ts
"""

HELD_SQL = """
SELECT DISTINCT ON (e.key) e.key,
       CASE WHEN jsonb_typeof(e.value) = 'boolean' THEN (e.value = 'true'::jsonb)::int::float8
            ELSE (e.value #>> '{}')::float8 END
FROM readings r CROSS JOIN LATERAL jsonb_each(r.values) AS e
WHERE r.machine_id = :m AND r.ts >= :start AND r.ts < :end
  AND ((e.key = ANY(:numbers) AND jsonb_typeof(e.value) = 'number')
       OR (e.key = ANY(:flags) AND jsonb_typeof(e.value) = 'boolean'))
ORDER BY e.key, r.ts DESC
"""


def rollup_series(machine, metrics, start, end, until, rolled):
    """The series of `metrics` with whole hours from reading_hours: buckets of whole hours,
    whose first/last/min/max merge into the same M4 points the readings would give for
    buckets on those hours (so there is no seam); the part hour at the start and the
    hours from rolled_to on (the latest) come from the readings. Five statements for any
    number of metrics."""
    h0, h1 = ceil_hour(start), floor_hour(min(end, rolled))
    per_bucket = max(1, math.ceil((end - start) / HOUR / BUCKETS))
    kinds = _kinds(metrics)
    held = _held_all(machine, metrics, start, rolled, kinds)
    head = _raw_all(machine, start, h0, 1, kinds) if start < h0 else {}
    middle = _hour_points(machine, [m.key for m in metrics], h0, h1, per_bucket)
    tail = _raw_all(machine, h1, end, max(1, math.ceil((end - h1) / HOUR / per_bucket)),
                    kinds) if h1 < end else {}
    series = []
    for metric in metrics:
        parts = [part.get(metric.key, ([], 0)) for part in (head, middle, tail)]
        rows = [point for points, _ in parts for point in points]
        total = sum(count for _, count in parts)
        series.append(_step_series(metric, held.get(metric.key), rows, total, start, end,
                                   until))
    return series


def _kinds(metrics):
    return {"numbers": [m.key for m in metrics if m.kind == "number"],
            "flags": [m.key for m in metrics if m.kind == "boolean"]}


def _raw_all(machine, start, end, buckets, kinds):
    """{key: ([(ts, value)], readings)} for [start, end) from the readings."""
    found = {}
    rows = db.session.execute(text(RAW_M4_SQL), {
        "m": machine.id, "start": start, "end": end, "s": start.timestamp(),
        "buckets": buckets, "span": (end - start).total_seconds(), **kinds})
    for key, ts, v, total in rows:
        points, _ = found.setdefault(key, ([], total))
        points.append((ts, v))
    return found


# Times as Unix seconds: a month of hours costs no datetime objects.
HOUR_ROWS_SQL = """
SELECT metric, extract(epoch FROM hour)::float8, readings,
       extract(epoch FROM first_ts)::float8, first_value,
       extract(epoch FROM last_ts)::float8, last_value,
       extract(epoch FROM min_ts)::float8, min_value,
       extract(epoch FROM max_ts)::float8, max_value
FROM reading_hours
WHERE machine_id = :m AND metric = ANY(:keys) AND hour >= :h0 AND hour < :h1 AND readings > 0
ORDER BY metric, hour
"""


def _hour_points(machine, keys, h0, h1, hours_per_bucket):
    """{key: ([(unix seconds, value)], readings)}: each hour's first, last, min and max
    merged into buckets of whole hours (min and max: the earliest on a tie, as M4 does)."""
    rows = db.session.execute(text(HOUR_ROWS_SQL), {"m": machine.id, "keys": list(keys),
                                                     "h0": h0, "h1": h1}).all()
    start, width = h0.timestamp(), 3600.0 * hours_per_bucket
    buckets, totals = {}, {}
    for key, hour, readings, f_x, f_v, l_x, l_v, lo_x, lo_v, hi_x, hi_v in rows:
        totals[key] = totals.get(key, 0) + readings
        number = (key, int((hour - start) // width))
        bucket = buckets.get(number)
        if bucket is None:
            buckets[number] = [(f_x, f_v), (l_x, l_v), (lo_v, lo_x), (-hi_v, hi_x)]
            continue
        bucket[1] = (l_x, l_v)
        bucket[2] = min(bucket[2], (lo_v, lo_x))
        bucket[3] = min(bucket[3], (-hi_v, hi_x))
    points = {}
    for (key, _), (first, last, low, high) in buckets.items():
        points.setdefault(key, {}).update([first, last, (low[1], low[0]),
                                           (high[1], -high[0])])
    return {key: (sorted(found.items()), totals[key]) for key, found in points.items()}


def _held_all(machine, metrics, start, rolled, kinds):
    """{key: value held at start}: a reading earlier in start's hour, else the value the
    hour before closed with (rolled), else the last reading before it."""
    hour = floor_hour(start)
    if hour > rolled:
        held = {m.key: _held_before(machine, m, hour) for m in metrics}
    else:
        held = dict(db.session.execute(
            select(ReadingHour.metric,
                   func.coalesce(ReadingHour.last_value, ReadingHour.open_value))
            .where(ReadingHour.machine_id == machine.id, ReadingHour.hour == hour - HOUR,
                   ReadingHour.metric.in_([m.key for m in metrics]))).all())
    if hour < start:
        held.update(db.session.execute(text(HELD_SQL), {
            "m": machine.id, "start": hour, "end": start, **kinds}).all())
    return held


def _step_series(metric, held, rows, total, start, end, until):
    series = Series(metric, stored=total)
    series.shown = len(rows)
    series.downsampled = series.stored > series.shown
    start_s, end_s = _epoch(start), _epoch(end)
    stop = min(end_s, _epoch(until)) if until else end_s
    # The value held at the start, unless the machine had gone quiet before the range.
    first = rows[0][0] if rows else None
    if isinstance(first, datetime):
        first = _epoch(first)
    if held is not None and stop > start_s and first != start_s:
        series.xs.append(start_s)
        series.ys.append(float(held))
    for ts, v in rows:
        series.xs.append(ts if isinstance(ts, float) else _epoch(ts))
        series.ys.append(float(v))
    if series.xs and stop > series.xs[-1]:
        series.xs.append(stop)
        series.ys.append(series.ys[-1])
    return _whole_range(series, start_s, end_s)


def _whole_range(series, start_s, end_s):
    """Empty ends keep the time axis on the whole range however sparse the data."""
    if not series.xs or series.xs[0] > start_s:
        series.xs.insert(0, start_s)
        series.ys.insert(0, None)
    if series.xs[-1] < end_s:
        series.xs.append(end_s)
        series.ys.append(None)
    return series


@dataclass
class Chart:
    """What the chart partial shows: the range, the metric choice and the series."""

    machine: object
    range: TimeRange | None
    metrics: list                       # every chartable metric (the choice offered)
    chosen: list                        # the keys shown
    series: list = field(default_factory=list)
    error: str = ""
    typed: dict = field(default_factory=dict)   # the form as sent, shown again on errors

    presets = PRESET_LABELS

    @property
    def has_data(self):
        return any(not s.empty for s in self.series)

    def payload(self):
        """The JSON chart.js draws."""
        return {
            "from": _epoch(self.range.start), "to": _epoch(self.range.end),
            "sync": f"machine-{self.machine.id}",
            "series": [_series_payload(s) for s in self.series if not s.empty],
        }

    def form_value(self, name):
        if name in self.typed:
            return self.typed[name]
        if self.range is None:
            return ""
        return {"from": self.range.local_input("start"), "to": self.range.local_input("end"),
                "tz": self.range.zone_name, "range": self.range.preset}.get(name, "")


def _series_payload(series):
    metric = series.metric
    true_label, false_label = boolean_words(metric)
    return {"key": metric.key, "label": metric.label, "unit": metric.unit or "",
            "kind": metric.kind, "min": metric.normal_min, "max": metric.normal_max,
            "true": true_label, "false": false_label, "x": series.xs, "y": series.ys}


def build_chart(machine, time_range, keys=()):
    metrics = chartable_metrics(machine)
    chosen = chosen_metrics(machine, keys)
    state = machine.state
    until = state.last_seen_at if state else None
    rolled = rolled_to([machine.id]).get(machine.id) \
        if time_range.end - time_range.start > ROLLUP_AFTER else None
    # A metric the machine never reported has no readings: no need to look for them.
    reported = set(state.values or {}) if state else set()
    start_s, end_s = _epoch(time_range.start), _epoch(time_range.end)
    drawn = [m for m in chosen if m.key in reported]
    if use_rollups(time_range.start, time_range.end, rolled) and drawn:
        made = dict(zip([m.key for m in drawn], rollup_series(
            machine, drawn, time_range.start, time_range.end, until, rolled), strict=True))
    else:
        made = {m.key: metric_series(machine, m, time_range.start, time_range.end, until)
                for m in drawn}
    series = [made.get(m.key) or _whole_range(Series(m), start_s, end_s) for m in chosen]
    return Chart(machine, time_range, metrics, [m.key for m in chosen], series)


def failed_chart(machine, error, args, default_zone=""):
    """The chart partial for a range that could not be used: the message and the typed form."""
    metrics = chartable_metrics(machine)
    typed = {name: args.get(name, "") for name in ("from", "to", "tz", "range")}
    typed["tz"] = typed["tz"] or default_zone
    chosen = [m.key for m in chosen_metrics(machine, args.getlist("metric"))]
    return Chart(machine, None, metrics, chosen, error=str(error), typed=typed)
