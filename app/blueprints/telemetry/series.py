"""A machine's chart: the series of each metric over a time range.

Readings are stored only when values change, and a reading may carry only some metrics: a
metric's value holds until the next reading that has it. So a chart series is a step line
that starts with the value held when the range begins and runs on to the last time the
machine was heard from.

Long ranges are thinned in the database, never in Python: the range is cut into BUCKETS
equal intervals and each interval keeps its first, last, lowest and highest value (M4
downsampling), so at most 4 × BUCKETS points leave the database, a one-second spike still
shows and the line between intervals carries the right value.
"""

from dataclasses import dataclass, field

from sqlalchemy import Integer, and_, cast, extract, func, literal, or_, select

from app.core.extensions import db
from app.core.models import as_utc

from .live_values import boolean_words
from .models import Reading
from .ranges import PRESET_LABELS, TimeRange

MAX_POINTS = 2000
BUCKETS = MAX_POINTS // 4     # first, last, min and max per bucket
CHARTABLE = ("number", "boolean")


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


def metric_series(machine, metric, start, end, until=None, buckets=BUCKETS):
    """The step series of one metric in [start, end): held value at start, then changes.

    `until` is when the machine was last heard from: the last value is drawn up to it (or
    to `end`), never beyond, so a silent machine's line stops where it went quiet.
    """
    value, has_it = _value(metric), _json_type_is(metric)
    mine = and_(Reading.machine_id == machine.id, has_it)
    held = db.session.execute(
        select(value).where(mine, Reading.ts < start).order_by(Reading.ts.desc()).limit(1)
    ).scalar()

    inner = (select(Reading.ts.label("ts"), value.label("v"),
                    _bucket(start, end, buckets).label("b"))
             .where(mine, Reading.ts >= start, Reading.ts < end).subquery())
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

    series = Series(metric, stored=rows[0].total if rows else 0)
    series.shown = len(rows)
    series.downsampled = series.stored > series.shown
    start_s, end_s = _epoch(start), _epoch(end)
    stop = min(end_s, _epoch(until)) if until else end_s
    # The value held at the start, unless the machine had gone quiet before the range.
    if held is not None and stop > start_s and not (rows and _epoch(rows[0].ts) == start_s):
        series.xs.append(start_s)
        series.ys.append(float(held))
    for row in rows:
        series.xs.append(_epoch(row.ts))
        series.ys.append(float(row.v))
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
    # A metric the machine never reported has no readings: no need to look for them.
    reported = set(state.values or {}) if state else set()
    start_s, end_s = _epoch(time_range.start), _epoch(time_range.end)
    series = [metric_series(machine, m, time_range.start, time_range.end, until)
              if m.key in reported else _whole_range(Series(m), start_s, end_s)
              for m in chosen]
    return Chart(machine, time_range, metrics, [m.key for m in chosen], series)


def failed_chart(machine, error, args, default_zone=""):
    """The chart partial for a range that could not be used: the message and the typed form."""
    metrics = chartable_metrics(machine)
    typed = {name: args.get(name, "") for name in ("from", "to", "tz", "range")}
    typed["tz"] = typed["tz"] or default_zone
    chosen = [m.key for m in chosen_metrics(machine, args.getlist("metric"))]
    return Chart(machine, None, metrics, chosen, error=str(error), typed=typed)
