"""The plant's time: its zone, and the planned production intervals of a line.

A shift is written in wall-clock time (06:00–14:00) and turned into UTC per day it runs,
through zoneinfo, so a night shift across a daylight-saving change lasts 7 or 9 hours as
it really does. Each instance is named by the date it starts on and the shift's name.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.core.extensions import db

from . import intervals as iv
from .models import CalendarException, LinePattern, Shift, ShiftPattern

DAY = timedelta(days=1)


def plant_zone():
    return ZoneInfo(current_app.config["PLANT_TIMEZONE"])


def local_day(moment, zone=None):
    """The plant's calendar date at a UTC moment."""
    return moment.astimezone(zone or plant_zone()).date()


def day_bounds(day, zone=None):
    """A plant calendar day as UTC [start, end): 23 or 25 hours on a change of clocks."""
    zone = zone or plant_zone()
    return wall_clock(day, time(0), zone), wall_clock(day + DAY, time(0), zone)


def wall_clock(day, clock, zone):
    """A local date and wall-clock time as an aware UTC datetime."""
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def span(day, starts, ends, zone):
    """Wall-clock start and end on `day` (an end at or before the start is the next day)."""
    end_day = day + DAY if ends <= starts else day
    return wall_clock(day, starts, zone), wall_clock(end_day, ends, zone)


@dataclass(frozen=True)
class ShiftInstance:
    """One shift on one day: when it runs (UTC) and its planned stops inside it."""

    day: date
    name: str
    start: datetime
    end: datetime
    stops: tuple = field(default=())

    @property
    def label(self):
        return f"{self.day.isoformat()} {self.name}"

    @property
    def production(self):
        """Planned production intervals: the shift without its planned stops."""
        return iv.subtract([(self.start, self.end)], self.stops)

    @property
    def shift_seconds(self):
        return (self.end - self.start).total_seconds()

    @property
    def planned_seconds(self):
        return iv.seconds(self.production)

    def clipped(self, start, end):
        """The part of this instance inside [start, end), or None."""
        cut = iv.clip([(self.start, self.end)], start, end)
        if not cut:
            return None
        (s, e), = cut
        return ShiftInstance(self.day, self.name, s, e, tuple(iv.clip(self.stops, s, e)))


def shift_instance(day, shift, zone):
    start, end = span(day, shift.starts, shift.ends, zone)
    stops = []
    for stop in shift.breaks:
        # A break before the shift's start on the clock belongs to the shift's second day.
        stop_day = day + DAY if stop.starts < shift.starts else day
        stops.append(span(stop_day, stop.starts, stop.ends, zone))
    return ShiftInstance(day, shift.name, start, end, tuple(iv.clip(stops, start, end)))


class LineCalendar:
    """A line's assignments and exceptions, loaded once, asked day by day."""

    def __init__(self, line_id, first_day, last_day, zone):
        self.zone = zone
        self.assignments = db.session.scalars(
            select(LinePattern).where(LinePattern.line_id == line_id)
            .options(selectinload(LinePattern.pattern).selectinload(ShiftPattern.shifts)
                     .selectinload(Shift.breaks))
            .order_by(LinePattern.effective_from.desc())).all()
        self.exceptions = db.session.scalars(
            select(CalendarException).where(
                or_(CalendarException.line_id == line_id, CalendarException.line_id.is_(None)),
                CalendarException.first_day <= last_day,
                CalendarException.last_day >= first_day)
            .order_by(CalendarException.first_day, CalendarException.id)).all()

    def pattern_on(self, day):
        return next((a.pattern for a in self.assignments if a.effective_from <= day), None)

    def closed_on(self, day):
        return any(e.closes and e.first_day <= day <= e.last_day for e in self.exceptions)

    def regular(self, day):
        pattern = self.pattern_on(day)
        if pattern is None or self.closed_on(day):
            return []
        number = pattern.day_number(day)
        return [shift_instance(day, s, self.zone) for s in pattern.shifts
                if number in s.day_numbers]

    def added(self, day):
        return [(e.name, *span(day, e.starts, e.ends, self.zone)) for e in self.exceptions
                if not e.closes and e.first_day <= day <= e.last_day]


def shift_instances(line_id, start, end, zone=None):
    """Every shift instance of the line that overlaps [start, end) (UTC), whole, in order.

    Holidays and shutdowns remove the shifts that start on their days; overtime and extra
    shifts add time, less any part a regular shift already covers (never counted twice).
    """
    zone = zone or plant_zone()
    first, last = local_day(start, zone) - DAY, local_day(end, zone)
    calendar = LineCalendar(line_id, first, last, zone)
    regular, added = [], []
    day = first
    while day <= last:
        regular += calendar.regular(day)
        added += [(day, *a) for a in calendar.added(day)]
        day += DAY
    taken = [(i.start, i.end) for i in regular]
    for day, name, s, e in added:
        for piece in iv.subtract([(s, e)], taken):
            regular.append(ShiftInstance(day, name, *piece))
        taken.append((s, e))
    return sorted((i for i in regular if i.start < end and i.end > start),
                  key=lambda i: i.start)


def planned_intervals(line_id, start, end, zone=None):
    """The line's shift instances between start and end (UTC), each cut to that window.

    `planned_seconds` of each is its shift time minus its planned stops.
    """
    out = []
    for instance in shift_instances(line_id, start, end, zone):
        cut = instance.clipped(start, end)
        if cut is not None:
            out.append(cut)
    return out
