"""OEE: the arithmetic, and the `oee_calculations` series kept up to date bucket by bucket.

For one machine and one bucket (an hour, a shift instance, a plant day):

    planned time   = shift time − breaks − planned downtime        (planned stops)
    run time       = planned time − unplanned stops of at least SMALL_STOP_SECONDS
    availability   = run time ÷ planned time
    performance    = ideal cycle time × total count ÷ run time      (capped at 1, flagged)
    quality        = good ÷ total
    OEE            = availability × performance × quality

A line is the sum of its machines' times and counts. Nothing planned is "no planned
production" (None), not 0 %. Overlapping downtimes (an andon call and a logbook issue on
the same stop) count once. Each change (a count, a downtime, its reason) recomputes only
the buckets it falls in; pages read the stored rows.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app.blueprints.machines.models import Machine
from app.core.extensions import db
from app.core.models import utcnow

from . import intervals as iv
from . import live
from .calendar import DAY, day_bounds, local_day, plant_zone, shift_instances
from .models import Downtime, IdealCycle, OeeCalculation, ProductionCount

HOUR = timedelta(hours=1)
# Performance a hair above 100 % is rounding in counters, not a wrong ideal cycle time.
OVER_TOLERANCE = 1e-9
SUMMED = ("planned_seconds", "planned_stop_seconds", "downtime_seconds", "small_stop_seconds",
          "run_seconds", "ideal_seconds", "total_count", "good_count", "reject_count",
          "unrated_count")


@dataclass(frozen=True)
class Ratios:
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    performance_over: bool


def ratios(planned, run, ideal, total, good, unrated=0):
    """A, P, Q and OEE from a bucket's sums; None where a ratio cannot be told."""
    if planned <= 0:
        return Ratios(None, None, None, None, False)
    availability = run / planned
    raw = ideal / run if run > 0 and (total == 0 or unrated < total) else None
    over = raw is not None and raw > 1 + OVER_TOLERANCE
    performance = min(raw, 1.0) if raw is not None else None
    quality = good / total if total else None
    if availability == 0 or total == 0:
        oee = 0.0
    elif performance is None:
        oee = None
    else:
        oee = availability * performance * quality
    return Ratios(availability, performance, quality, oee, over)


def waterfall(row):
    """The loss waterfall of a stored bucket, in seconds: planned time, then what each loss
    takes, down to fully productive time. Empty when nothing was planned."""
    if not row.planned:
        return []
    steps = [("Planned production time", row.planned_seconds),
             ("Availability loss", row.downtime_seconds), ("Run time", row.run_seconds)]
    if row.performance is None:
        return steps
    net = row.run_seconds * row.performance
    quality = row.quality if row.quality is not None else 1.0
    return [*steps, ("Performance loss", row.run_seconds - net), ("Net run time", net),
            ("Quality loss", net * (1 - quality)), ("Fully productive time", net * quality)]


@dataclass(frozen=True)
class Bucket:
    period: str
    start: datetime
    end: datetime
    label: str


def _floor_hour(moment):
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def buckets_touching(instances, start, end, zone):
    """The hours, shift instances (of `instances`) and plant days that [start, end] touches
    (a moment, when start == end, touches the buckets it lies in)."""
    end = max(end, start + timedelta(microseconds=1))
    out = []
    hour = _floor_hour(start)
    while hour < end:
        out.append(Bucket("hour", hour, hour + HOUR,
                          hour.astimezone(zone).strftime("%Y-%m-%d %H:00")))
        hour += HOUR
    for instance in instances:
        if instance.start < end and instance.end > start:
            out.append(Bucket("shift", instance.start, instance.end, instance.label))
    day = local_day(start, zone)
    while day <= local_day(end - timedelta(microseconds=1), zone):
        out.append(Bucket("day", *day_bounds(day, zone), day.isoformat()))
        day += DAY
    return out


class MachineMeasure:
    """What one machine's buckets need, loaded once per refresh."""

    def __init__(self, machine, instances):
        self.machine, self.instances = machine, instances
        self.now = utcnow()
        self.threshold = current_app.config["SMALL_STOP_SECONDS"]
        self.cycles = _ideal_cycles(machine)

    def _instances(self, bucket):
        cut = (i.clipped(bucket.start, bucket.end) for i in self.instances)
        return [i for i in cut if i is not None]

    def _downtimes(self, bucket):
        """Downtime intervals in the bucket: planned, long unplanned, short unplanned."""
        rows = db.session.scalars(select(Downtime).where(
            Downtime.machine_id == self.machine.id, Downtime.started_at < bucket.end,
            func.coalesce(Downtime.ended_at, self.now) > bucket.start)).all()
        planned, long, short = [], [], []
        for row in rows:
            end = min(row.ended_at or self.now, self.now)
            if end <= row.started_at:
                continue
            interval = (row.started_at, end)
            if row.coded_reason is not None and row.coded_reason.planned:
                planned.append(interval)
            elif row.ended_at is not None and \
                    (end - row.started_at).total_seconds() < self.threshold:
                short.append(interval)
            else:  # an open stop counts as long: it has not ended yet
                long.append(interval)
        return planned, long, short

    def _counts(self, bucket):
        rows = db.session.execute(
            select(ProductionCount.product_id, func.sum(ProductionCount.good),
                   func.sum(ProductionCount.reject))
            .where(ProductionCount.machine_id == self.machine.id,
                   ProductionCount.at >= bucket.start, ProductionCount.at < bucket.end)
            .group_by(ProductionCount.product_id)).all()
        good = reject = unrated = 0
        ideal = 0.0
        for product_id, good_sum, reject_sum in rows:
            total = int(good_sum) + int(reject_sum)
            good, reject = good + int(good_sum), reject + int(reject_sum)
            cycle = self.cycles.get(product_id)
            if cycle is None:
                unrated += total
            else:
                ideal += cycle * total
        return {"good_count": good, "reject_count": reject, "total_count": good + reject,
                "unrated_count": unrated, "ideal_seconds": ideal}

    def sums(self, bucket):
        instances = self._instances(bucket)
        shifts = [(i.start, i.end) for i in instances]
        breaks = [stop for i in instances for stop in i.stops]
        windows = iv.subtract(shifts, breaks)
        planned_dt, long_dt, short_dt = self._downtimes(bucket)
        production = iv.subtract(windows, planned_dt)
        down = iv.intersect(production, long_dt)
        planned = iv.seconds(production)
        downtime = iv.seconds(down)
        return {"planned_seconds": planned,
                "planned_stop_seconds": iv.seconds(breaks)
                + iv.seconds(iv.intersect(windows, planned_dt)),
                "downtime_seconds": downtime,
                "small_stop_seconds": iv.seconds(iv.subtract(
                    iv.intersect(production, short_dt), long_dt)),
                "run_seconds": planned - downtime, **self._counts(bucket)}


def _ideal_cycles(machine):
    """product id → ideal seconds a piece on this machine (its own, else its line's)."""
    rows = db.session.scalars(select(IdealCycle).where(
        (IdealCycle.machine_id == machine.id)
        | ((IdealCycle.line_id == machine.line_id) & IdealCycle.line_id.is_not(None)))).all()
    cycles = {r.product_id: r.seconds for r in rows if r.line_id is not None}
    cycles.update({r.product_id: r.seconds for r in rows if r.machine_id is not None})
    return cycles


def _store(row_filter, line_id, machine_id, bucket, sums):
    row = db.session.scalar(select(OeeCalculation).filter_by(
        period=bucket.period, starts_at=bucket.start, **row_filter))
    empty = not sums["planned_seconds"] and not sums["total_count"] \
        and not sums["downtime_seconds"]
    if empty:
        if row is not None:
            db.session.delete(row)
        return None
    if row is None:
        row = OeeCalculation(period=bucket.period, starts_at=bucket.start,
                             machine_id=machine_id)
        db.session.add(row)
    row.line_id, row.ends_at, row.label = line_id, bucket.end, bucket.label
    for key in SUMMED:
        setattr(row, key, sums[key])
    result = ratios(sums["planned_seconds"], sums["run_seconds"], sums["ideal_seconds"],
                    sums["total_count"], sums["good_count"], sums["unrated_count"])
    row.availability, row.performance = result.availability, result.performance
    row.quality, row.oee = result.quality, result.oee
    row.performance_over = result.performance_over
    row.computed_at = utcnow()
    return row


def _line_sums(line_id, bucket):
    columns = [func.coalesce(func.sum(getattr(OeeCalculation, key)), 0) for key in SUMMED]
    values = db.session.execute(select(*columns).where(
        OeeCalculation.line_id == line_id, OeeCalculation.machine_id.is_not(None),
        OeeCalculation.period == bucket.period,
        OeeCalculation.starts_at == bucket.start)).one()
    return dict(zip(SUMMED, values, strict=True))


def _drop_stale_shifts(line_id, machine_ids, start, end, current):
    """Shift rows in the range whose shift is no longer in the calendar (it was edited)."""
    starts = {b.start for b in current if b.period == "shift"}
    stale = db.session.scalars(select(OeeCalculation).where(
        OeeCalculation.period == "shift", OeeCalculation.starts_at < end,
        OeeCalculation.ends_at > start,
        (OeeCalculation.machine_id.in_(machine_ids))
        | ((OeeCalculation.machine_id.is_(None)) & (OeeCalculation.line_id == line_id)))).all()
    for row in stale:
        if row.starts_at not in starts:
            db.session.delete(row)


def refresh(machines, start, end=None):
    """Recompute the buckets [start, end] touches for these machines and their lines."""
    end = end or start
    zone = plant_zone()
    by_line = {}
    for machine in machines:
        if machine.line_id is not None:
            by_line.setdefault(machine.line_id, []).append(machine)
    # The calendar once per line, wide enough for the plant days the range touches.
    wide_start = day_bounds(local_day(start, zone) - DAY, zone)[0]
    wide_end = day_bounds(local_day(end, zone) + DAY, zone)[1]
    for line_id, members in by_line.items():
        instances = shift_instances(line_id, wide_start, wide_end, zone)
        buckets = buckets_touching(instances, start, end, zone)
        _drop_stale_shifts(line_id, [m.id for m in members], start,
                           max(end, start + timedelta(microseconds=1)), buckets)
        for machine in members:
            measure = MachineMeasure(machine, instances)
            for bucket in buckets:
                _store({"machine_id": machine.id}, line_id, machine.id, bucket,
                       measure.sums(bucket))
        db.session.flush()
        for bucket in buckets:
            _store({"machine_id": None, "line_id": line_id}, line_id, None, bucket,
                   _line_sums(line_id, bucket))
    db.session.flush()
    if by_line:
        live.announce_oee([m for ms in by_line.values() for m in ms], start,
                          max(end, start + timedelta(microseconds=1)))


def refresh_line(line, start, end):
    """Recompute a line's buckets in a range (its calendar changed), never past now."""
    end = min(end, utcnow())
    if end <= start:
        return
    machines = db.session.scalars(select(Machine).where(Machine.line_id == line.id)).all()
    refresh(machines, start, end)


def series(period, start, end, line_id=None, machine_id=None):
    """Stored buckets of a line (machine_id None) or a machine, oldest first."""
    stmt = select(OeeCalculation).where(OeeCalculation.period == period,
                                        OeeCalculation.starts_at >= start,
                                        OeeCalculation.starts_at < end)
    if machine_id is not None:
        stmt = stmt.where(OeeCalculation.machine_id == machine_id)
    else:
        stmt = stmt.where(OeeCalculation.machine_id.is_(None),
                          OeeCalculation.line_id == line_id)
    return db.session.scalars(stmt.order_by(OeeCalculation.starts_at)).all()


def line_shifts_on(day):
    """line id → the stored shift buckets of the lines that started on the plant day."""
    start, end = day_bounds(day)
    rows = db.session.scalars(select(OeeCalculation).where(
        OeeCalculation.period == "shift", OeeCalculation.machine_id.is_(None),
        OeeCalculation.starts_at >= start, OeeCalculation.starts_at < end)
        .order_by(OeeCalculation.starts_at)).all()
    out = {}
    for row in rows:
        out.setdefault(row.line_id, []).append(row)
    return out
