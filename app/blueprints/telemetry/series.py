"""A machine's history: the time range people ask for, chart series, the readings table, CSV.

Readings are stored only when values change, and a reading may carry only some metrics: a
metric's value holds until the next reading that has it. So a chart series is a step line
that starts with the value held when the range begins and runs on to the last time the
machine was heard from.

Long ranges are thinned in the database, never in Python: the range is cut into BUCKETS
equal intervals and each interval keeps its first, last, lowest and highest value (M4
downsampling), so at most 4 × BUCKETS points leave the database, a one-second spike still
shows and the line between intervals carries the right value. The CSV export streams rows
from a server-side cursor.
"""

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app
from sqlalchemy import Integer, and_, cast, extract, func, literal, or_, select

from app.core.extensions import db
from app.core.models import as_utc, utcnow

from .models import Reading

PRESETS = {"1h": timedelta(hours=1), "8h": timedelta(hours=8), "24h": timedelta(hours=24),
           "7d": timedelta(days=7)}
PRESET_LABELS = (("1h", "1 h"), ("8h", "8 h"), ("24h", "24 h"), ("7d", "7 d"))
PRESET_TITLES = {"1h": "Last hour", "8h": "Last 8 hours", "24h": "Last 24 hours",
                 "7d": "Last 7 days"}
DEFAULT_PRESET = "8h"
CUSTOM = "custom"
MAX_POINTS = 2000
BUCKETS = MAX_POINTS // 4     # first, last, min and max per bucket
PAGE_SIZE = 50
CSV_CHUNK = 500               # rows per streamed piece of the CSV
CHARTABLE = ("number", "boolean")
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type=datetime-local> sends and shows


class RangeError(ValueError):
    """A time range or cursor people sent that cannot be used; the message says why."""


# --- time ranges -------------------------------------------------------------------------

def _iso_z(value):
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def known_zone(name):
    """The zone name if it is a real one, else "" (for the remembered browser zone)."""
    try:
        return str(parse_zone(name)) if name else ""
    except RangeError:
        return ""


def parse_zone(name):
    """The browser's IANA zone (chart.js fills it in); empty means UTC."""
    name = (name or "").strip()
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RangeError(f"Unknown time zone '{name[:60]}'.") from None


def parse_time(text, zone=UTC, what="time"):
    """A datetime-local value (in `zone`) or an ISO 8601 time with offset → aware UTC."""
    text = (text or "").strip()
    try:
        value = datetime.fromisoformat(text)
        return (value.replace(tzinfo=zone) if value.tzinfo is None else value).astimezone(UTC)
    except (ValueError, OverflowError):
        raise RangeError(f"The {what} '{text[:40]}' is not a date and time like "
                         "2026-11-30T08:00.") from None


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    preset: str = CUSTOM
    zone: object = UTC

    @property
    def zone_name(self):
        return "" if self.zone is UTC else str(self.zone)

    @property
    def zone_label(self):
        return self.zone_name or "UTC"

    def local_input(self, which):
        """`start` or `end` as a datetime-local value in the person's zone."""
        return getattr(self, which).astimezone(self.zone).strftime(INPUT_FORMAT)

    def iso(self, which):
        return _iso_z(getattr(self, which))

    def describe(self):
        if self.preset in PRESETS:
            return PRESET_TITLES[self.preset]
        start, end = (v.astimezone(self.zone) for v in (self.start, self.end))
        end_format = "%H:%M" if start.date() == end.date() else "%d %b %Y %H:%M"
        return f"{start:%d %b %Y %H:%M} – {end.strftime(end_format)} ({self.zone_label})"

    def query_args(self):
        """The same range as readings-table / CSV arguments."""
        args = {"from": self.iso("start"), "to": self.iso("end")}
        if self.zone_name:
            args["tz"] = self.zone_name
        return args


def chart_range(args, now=None, default_zone=""):
    """The chart's range from request args: `range` = 1h/8h/24h/7d, or custom from/to.

    Times without an offset are in `tz`, else in `default_zone`, else UTC.
    """
    now = now or utcnow()
    zone = parse_zone(args.get("tz") or default_zone)
    preset = (args.get("range") or DEFAULT_PRESET).strip()
    if preset in PRESETS:
        return TimeRange(now - PRESETS[preset], now, preset, zone)
    if preset != CUSTOM:
        raise RangeError(f"Unknown range '{preset[:20]}': choose 1 h, 8 h, 24 h, 7 d or "
                         "a custom range.")
    if not (args.get("from") or "").strip():
        raise RangeError("Choose when the custom range starts (From).")
    start = parse_time(args.get("from"), zone, "start")
    end = parse_time(args["to"], zone, "end") if (args.get("to") or "").strip() else now
    if start >= end:
        raise RangeError("The start of the range must be before its end.")
    return TimeRange(start, end, CUSTOM, zone)


def optional_range(args, default_zone=""):
    """(start or None, end or None, zone) for the readings table and the CSV: open ends."""
    zone = parse_zone(args.get("tz") or default_zone)
    start = parse_time(args["from"], zone, "start") if (args.get("from") or "").strip() else None
    end = parse_time(args["to"], zone, "end") if (args.get("to") or "").strip() else None
    if start and end and start >= end:
        raise RangeError("The start of the range must be before its end.")
    return start, end, zone


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


# --- values as people read them ----------------------------------------------------------

def boolean_words(metric):
    if metric.role == "running":
        return "Running", "Stopped"
    return "Yes", "No"


def format_number(value):
    """12,345 · 71.3 · 0.0042: no float noise, thousands grouped."""
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()
                                  and abs(value) < 1e15):
        return f"{int(value):,}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) < 0.01:
        return f"{value:.2g}"
    text = f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.1f}"
    return text.rstrip("0").rstrip(".")


@dataclass
class ShownValue:
    label: str
    text: str          # "71.3", "Running", "—"
    unit: str = ""
    level: str = ""    # "high", "low", "normal" or "" (no range / not a number)
    range_text: str = ""
    key: str = ""

    @property
    def level_word(self):
        return {"high": "High", "low": "Low", "normal": "Normal"}.get(self.level, "")


def show_value(metric, value):
    """One metric's value as text with its unit, and whether it is out of its normal range."""
    shown = ShownValue(metric.label, "—", metric.unit or "", key=metric.key,
                       range_text=metric.range_text)
    if value is None:
        return shown
    if metric.kind == "boolean" and isinstance(value, bool):
        shown.text = boolean_words(metric)[0 if value else 1]
        shown.unit = ""
        if metric.role == "running":
            shown.level = "running" if value else "stopped"
    elif metric.kind == "number" and isinstance(value, int | float) \
            and not isinstance(value, bool):
        shown.text = format_number(value)
        if metric.normal_max is not None and value > metric.normal_max:
            shown.level = "high"
        elif metric.normal_min is not None and value < metric.normal_min:
            shown.level = "low"
        elif metric.normal_min is not None or metric.normal_max is not None:
            shown.level = "normal"
    else:
        shown.text = str(value)
        shown.unit = ""
    return shown


def silent_after():
    """A machine not heard from for this long is 'silent' (three missed polls, ≥ 1 min)."""
    return timedelta(seconds=max(60, 3 * current_app.config.get("POLL_INTERVAL_SECONDS", 20)))


@dataclass
class LiveValues:
    """The latest values panel: rendered from the machine alone (also sent over /ws)."""

    values: list
    status: str          # "none", "reporting", "silent", "unreachable"
    status_text: str
    reading_ts: datetime | None = None
    last_seen_at: datetime | None = None
    last_changed_at: datetime | None = None
    silent_at: datetime | None = None
    last_error: str = ""

    @property
    def unchanged(self):
        """Reporting, but the values have stayed the same for longer than a silence."""
        return (self.status == "reporting" and self.last_changed_at is not None
                and self.last_seen_at - self.last_changed_at >= silent_after())

    @property
    def badge(self):
        return {"reporting": "ok", "silent": "warn", "unreachable": "bad"}.get(self.status,
                                                                              "off")


def live_values(machine, now=None):
    now = now or utcnow()
    state = machine.state
    latest = (state.values or {}) if state else {}
    values = [show_value(m, latest.get(m.key)) for m in machine.machine_type.metrics]
    if state is None or state.last_seen_at is None:
        status, text = "none", "No readings yet"
        if state is not None and state.reachable is False:
            status, text = "unreachable", "Not reachable"
        return LiveValues([], status, text, last_error=(state.last_error or "") if state else "")
    seen = as_utc(state.last_seen_at)
    silent_at = seen + silent_after()
    if state.reachable is False:
        status, text = "unreachable", "Not reachable"
    elif now >= silent_at:
        status, text = "silent", "Silent"
    else:
        status, text = "reporting", "Reporting"
    return LiveValues(values, status, text,
                      reading_ts=as_utc(state.reading_ts) if state.reading_ts else None,
                      last_seen_at=seen,
                      last_changed_at=as_utc(state.last_changed_at)
                      if state.last_changed_at else None,
                      silent_at=silent_at, last_error=state.last_error or "")


# --- the readings table ------------------------------------------------------------------

@dataclass
class ReadingsPage:
    rows: list               # (ts, source, [ShownValue per metric, blank where absent])
    metrics: list
    start: datetime | None
    end: datetime | None
    zone: object
    newer: str | None = None     # cursor for ?after=
    older: str | None = None     # cursor for ?before=
    is_newest: bool = True

    @property
    def zone_label(self):
        return "UTC" if self.zone is UTC else str(self.zone)

    def local_input(self, which):
        value = getattr(self, which)
        return value.astimezone(self.zone).strftime(INPUT_FORMAT) if value else ""

    @property
    def args(self):
        """The range as URL arguments, for the pager and the CSV link."""
        args = {}
        if self.start:
            args["from"] = _iso_z(self.start)
        if self.end:
            args["to"] = _iso_z(self.end)
        if self.zone is not UTC:
            args["tz"] = str(self.zone)
        return args

    def local_time(self, ts):
        return as_utc(ts).astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")


def _cursor(value):
    return as_utc(value).astimezone(UTC).isoformat()


def parse_cursor(text):
    try:
        return as_utc(datetime.fromisoformat(text))
    except (TypeError, ValueError):
        raise RangeError(f"'{(text or '')[:40]}' is not a page position.") from None


def _in_range(machine, start, end):
    conditions = [Reading.machine_id == machine.id]
    if start:
        conditions.append(Reading.ts >= start)
    if end:
        conditions.append(Reading.ts < end)
    return and_(*conditions)


def readings_page(machine, start=None, end=None, zone=UTC, before=None, after=None,
                  size=PAGE_SIZE):
    """One page of readings, newest first, by keyset on the time (before/after a cursor)."""
    where = _in_range(machine, start, end)
    query = select(Reading.ts, Reading.source, Reading.values).where(where)
    rows = []
    if after is not None:
        rows = db.session.execute(query.where(Reading.ts > after).order_by(Reading.ts)
                                  .limit(size)).all()[::-1]
        if len(rows) < size:
            after = rows = None  # back at the newest readings: show a full first page
    if not rows:
        if after is None and before is not None:
            query = query.where(Reading.ts < before)
        rows = db.session.execute(query.order_by(Reading.ts.desc()).limit(size)).all()
    metrics = list(machine.machine_type.metrics)
    page = ReadingsPage([], metrics, start, end, zone)
    for ts, source, values in rows:
        page.rows.append((ts, source, [show_value(m, values.get(m.key)) if m.key in values
                                       else None for m in metrics]))
    if rows:
        newest, oldest = rows[0].ts, rows[-1].ts
        if _exists(where, Reading.ts > newest):
            page.newer, page.is_newest = _cursor(newest), False
        if _exists(where, Reading.ts < oldest):
            page.older = _cursor(oldest)
    return page


def _exists(*conditions):
    return db.session.execute(select(select(Reading.ts).where(*conditions).exists())).scalar()


# --- CSV ---------------------------------------------------------------------------------

def csv_filename(machine, start, end):
    def part(value):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%MZ") if value else None
    span = "-to-".join(p for p in (part(start) or "start", part(end) or "now"))
    return f"{machine.code}-readings-{span}.csv"


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run a machine's text as a formula
    return value


def csv_rows(machine, start=None, end=None):
    """The CSV as text pieces, oldest first, read through a server-side cursor."""
    keys = [m.key for m in machine.machine_type.metrics]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["ts", "received_at", "source", *keys])
    result = db.session.execute(
        select(Reading.ts, Reading.received_at, Reading.source, Reading.values)
        .where(_in_range(machine, start, end)).order_by(Reading.ts)
        .execution_options(stream_results=True, yield_per=CSV_CHUNK))
    for count, (ts, received_at, source, values) in enumerate(result, 1):
        writer.writerow([as_utc(ts).astimezone(UTC).isoformat(),
                         as_utc(received_at).astimezone(UTC).isoformat(), source,
                         *(_csv_cell(values.get(k)) for k in keys)])
        if count % CSV_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
