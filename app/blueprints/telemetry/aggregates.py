"""A period's figures per machine and metric (or per line), from the roll-ups.

For [start, end): whole UTC days come from reading_days, whole hours around them from
reading_hours, and only the part hours at the two ends (the latest one still running)
from the readings, so a month across the plant reads about 100,000 small rows instead of
millions of readings. Values are time-weighted: a value counts for as long as it held.
Reports and OEE read these; a machine whose roll-ups lag behind is read from the readings
for the part not rolled yet, so figures are right either way, only slower.
"""

from dataclasses import dataclass

from sqlalchemy import text

from app.core.extensions import db
from app.core.models import as_utc

from . import rollups
from .rollups import HOUR, Window, ceil_day, ceil_hour, floor_day, floor_hour


@dataclass
class Figures:
    """One metric of one machine (or line) over the period."""

    readings: int = 0            # readings stored in the period that carry the metric
    low: float | None = None
    high: float | None = None
    area: float = 0.0
    seconds: float = 0.0         # how long the metric had a value within the period

    @property
    def average(self):
        """The time-weighted mean (for a 0/1 flag: the share of the time it was on)."""
        return self.area / self.seconds if self.seconds else None

    def add(self, readings, low, high, area, seconds):
        self.readings += int(readings or 0)
        if low is not None:
            self.low = low if self.low is None else min(self.low, low)
        if high is not None:
            self.high = high if self.high is None else max(self.high, high)
        self.area += float(area or 0)
        self.seconds += float(seconds or 0)


def plant_aggregates(start, end, machine_ids=None):
    """{(machine_id, metric key): Figures} over [start, end) for the machines given, else
    every machine with telemetry. PostgreSQL only (roll-ups); empty elsewhere."""
    if not rollups.supported():
        return {}
    start, end = as_utc(start), as_utc(end)
    seen = _last_seen(machine_ids)
    rolled = rollups.rolled_to(list(seen))
    figures = {}

    def add(rows):
        for row in rows:
            key = (row["machine_id"], row["metric"])
            figures.setdefault(key, Figures()).add(row["readings"], row["low"], row["high"],
                                                   row["area"], row["seconds"])

    plan = [_plan(m, start, end, rolled.get(m), seen[m]) for m in seen]
    add(_days(plan))
    add(_hours(plan))
    add({**row, "machine_id": row["window"].machine_id}
        for row in rollups.window_stats([w for p in plan for w in p["raw"]]))
    return figures


def line_aggregates(figures, line_of):
    """The machines' Figures added up per (line_id, metric); line_of: {machine_id: line_id}."""
    lines = {}
    for (machine_id, metric), f in figures.items():
        key = (line_of.get(machine_id), metric)
        lines.setdefault(key, Figures()).add(f.readings, f.low, f.high, f.area, f.seconds)
    return lines


def _last_seen(machine_ids):
    only = "" if machine_ids is None else "AND machine_id = ANY(:ids)"
    rows = db.session.execute(text(
        "SELECT machine_id, greatest(last_seen_at, reading_ts) FROM machine_states "
        f"WHERE (last_seen_at IS NOT NULL OR reading_ts IS NOT NULL) {only}"),
        {"ids": list(machine_ids or [])}).all()
    return {m: as_utc(t) for m, t in rows}


def _plan(machine_id, start, end, rolled, seen):
    """Which part of [start, end) each source gives for one machine:
    days [d0, d1), hours [h0, d0) and [d1, h1), readings [start, h0) and [h1, end)."""
    # A value holds to the end of the hour the machine was last heard from, as rolled.
    end = min(end, floor_hour(seen) + HOUR)
    h0 = ceil_hour(start)
    h1 = max(h0, floor_hour(min(end, rolled))) if rolled else h0
    d0 = min(ceil_day(start), h1)
    d1 = max(d0, floor_day(h1))
    raw = []
    if h0 > start or not rolled:
        # The first part hour needs the value held at its hour's start: the roll-up of the
        # hour before when there is one, else the last reading before it.
        a = floor_hour(start)
        before_rolled = not rolled or a > rolled
        raw.append(Window(machine_id, a, min(h0, end) if rolled else end, start,
                          min(h0, end) if rolled else end, raw_open=before_rolled))
    if rolled and h1 < end and h1 >= h0:
        raw.append(Window(machine_id, h1, end, h1, end, raw_open=h1 > rolled))
    raw = [w for w in raw if w.c0 < w.c1]
    return {"machine_id": machine_id, "d0": d0, "d1": d1, "h0": h0, "h1": h1, "raw": raw}


def _days(plan):
    return _sum_rows("reading_days", "day", [(p["machine_id"], p["d0"], p["d1"]) for p in plan])


def _hours(plan):
    return _sum_rows("reading_hours", "hour", [(p["machine_id"], a, b) for p in plan
                                               for a, b in ((p["h0"], p["d0"]),
                                                            (p["d1"], p["h1"]))])


def _sum_rows(table, column, spans):
    """Rows of `table` added up per machine and metric over each machine's [a, b); machines
    sharing bounds (nearly always all of them) go in one range query."""
    groups = {}
    for machine_id, a, b in spans:
        if a < b:
            groups.setdefault((a, b), []).append(machine_id)
    rows = []
    for (a, b), ids in groups.items():
        rows += db.session.execute(text(
            f"SELECT machine_id, metric, sum(readings) AS readings, min(low) AS low, "
            f"max(high) AS high, sum(area) AS area, sum(seconds) AS seconds FROM {table} "
            f"WHERE machine_id = ANY(:ids) AND {column} >= :a AND {column} < :b "
            "GROUP BY machine_id, metric"), {"ids": ids, "a": a, "b": b}).mappings().all()
    return rows
