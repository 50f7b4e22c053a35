"""Services for production's reference data: shift patterns, shifts and breaks, line
assignments, calendar exceptions, products and ideal cycle times, the reason tree.

Each flushes, never commits, and raises ValidationFailed with a message a manager can act
on; nothing is changed when it does.
"""

from datetime import date, timedelta

from sqlalchemy import select

from app.blueprints.machines.models import Line
from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.models import utcnow
from app.jobs.queue import enqueue_after_commit

from .calendar import day_bounds, local_day
from .models import (
    CLOSING_KINDS,
    EXCEPTION_KINDS,
    LOSSES,
    CalendarException,
    IdealCycle,
    LinePattern,
    Product,
    Reason,
    ReasonCategory,
    ShiftPattern,
)

MINUTES_A_DAY = 24 * 60
# A calendar edit redoes the stored OEE of its lines this far back at most (a job, after
# commit); history older than that keeps the figures it was reported with.
RECOMPUTE_DAYS = 92


def _minutes(clock):
    return clock.hour * 60 + clock.minute


def _length(starts, ends):
    """Wall-clock minutes from start to end; an end at or before the start is next day."""
    return (_minutes(ends) - _minutes(starts)) % MINUTES_A_DAY or MINUTES_A_DAY


def _taken(errors, model, column, value, name, own_id):
    other = db.session.scalar(select(model).where(column == value))
    if other is not None and other.id != own_id:
        errors[name] = f"'{value}' is already used."


# --- patterns and shifts --------------------------------------------------------------------

def patterns_ordered():
    return db.session.scalars(select(ShiftPattern).order_by(ShiftPattern.name)).all()


def save_pattern(pattern, name, cycle_days, cycle_start=None, description=""):
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the pattern a name."
    else:
        _taken(errors, ShiftPattern, ShiftPattern.name, name, "name", pattern.id)
    if cycle_days is None or not 1 <= cycle_days <= 56:
        errors["cycle_days"] = "A cycle is 1 to 56 days (7 for a weekly pattern)."
    elif cycle_days != 7 and cycle_start is None:
        errors["cycle_start"] = "A rotation needs the date its day 1 falls on."
    elif pattern.id and any(d > cycle_days for s in pattern.shifts for d in s.day_numbers):
        errors["cycle_days"] = "Some shifts run on days past the new cycle's end."
    if errors:
        raise ValidationFailed(errors)
    pattern.name, pattern.description = name, (description or "").strip()
    pattern.cycle_days, pattern.cycle_start = cycle_days, cycle_start
    if pattern.id is None:
        db.session.add(pattern)
    db.session.flush()
    return pattern


def _cycle_spans(pattern, shift_like):
    """Where a shift sits in the cycle, in minutes from the start of day 1, with copies one
    cycle before and after so a shift crossing the cycle's end meets day 1's shifts."""
    cycle = pattern.cycle_days * MINUTES_A_DAY
    length = _length(shift_like["starts"], shift_like["ends"])
    for day in shift_like["days"]:
        begin = (day - 1) * MINUTES_A_DAY + _minutes(shift_like["starts"])
        for offset in (-cycle, 0, cycle):
            yield begin + offset, begin + offset + length


def _overlapping_shift(pattern, shift, proposed):
    mine = list(_cycle_spans(pattern, proposed))
    for other in pattern.shifts:
        if other is shift:
            continue
        theirs = _cycle_spans(pattern, {"starts": other.starts, "ends": other.ends,
                                         "days": other.day_numbers})
        for s1, e1 in theirs:
            if any(s1 < e2 and s2 < e1 for s2, e2 in mine):
                return other
    return None


def save_shift(pattern, shift, name, starts, ends, days):
    """Add or change a shift; it may not overlap another shift of its pattern."""
    name = (name or "").strip()
    days = sorted(set(days or ()))
    errors = {}
    if not name:
        errors["name"] = "Give the shift a name, e.g. Early."
    if starts is None or ends is None:
        errors["starts"] = "Give the start and end time."
    elif starts == ends:
        errors["ends"] = "A shift cannot end when it starts."
    if not days:
        errors["days"] = "Pick the days the shift runs."
    elif any(not 1 <= d <= pattern.cycle_days for d in days):
        errors["days"] = f"Days run from 1 to {pattern.cycle_days} in this pattern."
    if not errors:
        other = _overlapping_shift(pattern, shift, {"starts": starts, "ends": ends,
                                                    "days": days})
        if other is not None:
            errors[""] = (f"This shift overlaps {other.name} ({other.starts:%H:%M}–"
                          f"{other.ends:%H:%M}) in the same pattern.")
    if not errors and shift.id is not None:
        for stop in shift.breaks:
            if not _inside(stop.starts, stop.ends, starts, ends):
                errors[""] = (f"The break {stop.name} ({stop.starts:%H:%M}–{stop.ends:%H:%M}) "
                              "would fall outside the shift; change or remove it first.")
    if errors:
        raise ValidationFailed(errors)
    shift.name, shift.starts, shift.ends = name, starts, ends
    shift.days = " ".join(str(d) for d in days)
    if shift.id is None:
        shift.pattern = pattern
        db.session.add(shift)
    db.session.flush()
    pattern_changed(pattern)
    return shift


def _offset(shift_starts, clock):
    return (_minutes(clock) - _minutes(shift_starts)) % MINUTES_A_DAY


def _inside(starts, ends, shift_starts, shift_ends):
    begin = _offset(shift_starts, starts)
    return begin + _length(starts, ends) <= _length(shift_starts, shift_ends)


def save_break(shift, stop, name, starts, ends):
    """Add or change a planned stop; it must lie inside its shift and not overlap another."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the break a name, e.g. Lunch."
    if starts is None or ends is None:
        errors["starts"] = "Give the start and end time."
    elif starts == ends:
        errors["ends"] = "A break cannot end when it starts."
    elif not _inside(starts, ends, shift.starts, shift.ends):
        errors[""] = (f"The break {starts:%H:%M}–{ends:%H:%M} is outside the shift "
                      f"{shift.name} ({shift.starts:%H:%M}–{shift.ends:%H:%M}).")
    else:
        begin = _offset(shift.starts, starts)
        end = begin + _length(starts, ends)
        for other in shift.breaks:
            if other is stop:
                continue
            o_begin = _offset(shift.starts, other.starts)
            if begin < o_begin + _length(other.starts, other.ends) and o_begin < end:
                errors[""] = f"This break overlaps {other.name}."
    if errors:
        raise ValidationFailed(errors)
    stop.name, stop.starts, stop.ends = name, starts, ends
    if stop.id is None:
        stop.shift = shift
        db.session.add(stop)
    db.session.flush()
    pattern_changed(shift.pattern)
    return stop


def delete_shift(shift):
    pattern = shift.pattern
    pattern.shifts.remove(shift)
    db.session.flush()
    pattern_changed(pattern)


def delete_break(stop):
    shift = stop.shift
    shift.breaks.remove(stop)
    db.session.flush()
    pattern_changed(shift.pattern)


def calendar_changed(lines, first_day, last_day=None):
    """Have the OEE of these lines redone for the days a calendar edit touched (a day
    before, for night shifts that run into them), up to now, after commit."""
    today = local_day(utcnow())
    start_day = max(first_day - timedelta(days=1), today - timedelta(days=RECOMPUTE_DAYS))
    end_day = min(last_day or today, today)
    if start_day > end_day:
        return
    start, end = day_bounds(start_day)[0], day_bounds(end_day)[1]
    for line in lines:
        enqueue_after_commit("app.jobs.production.recompute_line", line.id,
                             start.isoformat(), end.isoformat())


def lines_of_pattern(pattern):
    return db.session.scalars(select(Line).join(LinePattern, LinePattern.line_id == Line.id)
                              .where(LinePattern.pattern_id == pattern.id).distinct()).all()


def pattern_changed(pattern):
    """A shift or break of the pattern changed: its lines, back as far as we redo."""
    calendar_changed(lines_of_pattern(pattern), date.min + timedelta(days=1))


def exception_lines(exception):
    if exception.line is not None:
        return [exception.line]
    return db.session.scalars(select(Line).order_by(Line.code)).all()


# --- line assignments and exceptions --------------------------------------------------------

def assignments_ordered():
    return db.session.scalars(select(LinePattern).order_by(LinePattern.line_id,
                                                           LinePattern.effective_from)).all()


def assign_pattern(line, pattern, effective_from):
    if line is None or pattern is None or effective_from is None:
        raise ValidationFailed("Pick a line, a pattern and the date it starts on.")
    existing = db.session.scalar(select(LinePattern).filter_by(
        line_id=line.id, effective_from=effective_from))
    if existing is not None:
        raise ValidationFailed({"effective_from": (
            f"{line.name} already changes to {existing.pattern.name} on "
            f"{effective_from:%d %b %Y}; remove that first.")})
    assignment = LinePattern(line=line, pattern=pattern, effective_from=effective_from)
    db.session.add(assignment)
    db.session.flush()
    calendar_changed([line], effective_from)
    return assignment


def remove_assignment(assignment):
    calendar_changed([assignment.line], assignment.effective_from)
    db.session.delete(assignment)
    db.session.flush()


def line_overview(day):
    """Every line with the pattern it works to on `day` (None: it plans nothing)."""
    lines = db.session.scalars(select(Line).order_by(Line.code)).all()
    assignments = db.session.scalars(select(LinePattern).where(
        LinePattern.effective_from <= day).order_by(LinePattern.effective_from)).all()
    current = {a.line_id: a.pattern for a in assignments}  # the latest wins
    return [{"line": line, "pattern": current.get(line.id)} for line in lines]


def upcoming_exceptions(day, limit=10):
    return db.session.scalars(select(CalendarException).where(
        CalendarException.last_day >= day).order_by(CalendarException.first_day)
        .limit(limit)).all()


def exceptions_ordered():
    return db.session.scalars(select(CalendarException).order_by(
        CalendarException.first_day.desc(), CalendarException.id)).all()


def save_exception(exception, kind, name, first_day, last_day, line=None, starts=None,
                   ends=None):
    name = (name or "").strip()
    errors = {}
    if kind not in dict(EXCEPTION_KINDS):
        errors["kind"] = "Pick what kind of exception this is."
    if not name:
        errors["name"] = "Give it a name people recognise, e.g. Christmas."
    if first_day is None or last_day is None:
        errors["first_day"] = "Give the first and last day."
    elif last_day < first_day:
        errors["last_day"] = "The last day comes before the first."
    elif (last_day - first_day).days > 366:
        errors["last_day"] = "An exception lasts at most a year."
    if kind in CLOSING_KINDS:
        starts = ends = None
    elif kind in dict(EXCEPTION_KINDS):
        if starts is None or ends is None:
            errors["starts"] = "Added time needs a start and end time."
        elif starts == ends:
            errors["ends"] = "The added time cannot end when it starts."
    if errors:
        raise ValidationFailed(errors)
    before = (exception_lines(exception), exception.first_day, exception.last_day) \
        if exception.id else ([], first_day, last_day)
    exception.kind, exception.name, exception.line = kind, name, line
    exception.first_day, exception.last_day = first_day, last_day
    exception.starts, exception.ends = starts, ends
    if exception.id is None:
        db.session.add(exception)
    db.session.flush()
    lines = {line.id: line for line in [*before[0], *exception_lines(exception)]}
    calendar_changed(lines.values(), min(before[1], first_day), max(before[2], last_day))
    return exception


def delete_exception(exception):
    calendar_changed(exception_lines(exception), exception.first_day, exception.last_day)
    db.session.delete(exception)
    db.session.flush()


# --- products -------------------------------------------------------------------------------

def products_ordered():
    return db.session.scalars(select(Product).order_by(Product.code)).all()


def save_product(product, code, name, description="", active=True):
    code, name = (code or "").strip().upper(), (name or "").strip()
    errors = {}
    if not code:
        errors["code"] = "Give the product its code (article number)."
    else:
        _taken(errors, Product, Product.code, code, "code", product.id)
    if not name:
        errors["name"] = "Give the product a name."
    if errors:
        raise ValidationFailed(errors)
    product.code, product.name = code, name
    product.description, product.active = (description or "").strip(), bool(active)
    if product.id is None:
        db.session.add(product)
    db.session.flush()
    return product


def ideal_seconds(cycle_seconds=None, per_hour=None):
    """An ideal cycle time from seconds a piece or pieces an hour; zero or less refused."""
    if cycle_seconds is not None and per_hour is not None:
        raise ValidationFailed({"seconds": "Give the cycle time or the rate, not both."})
    if cycle_seconds is not None:
        if cycle_seconds <= 0:
            raise ValidationFailed({"seconds": "The ideal cycle time must be more than zero "
                                               "seconds."})
        return float(cycle_seconds)
    if per_hour is not None:
        if per_hour <= 0:
            raise ValidationFailed({"per_hour": "The ideal rate must be more than zero pieces "
                                                "an hour."})
        return 3600 / per_hour
    raise ValidationFailed({"seconds": "Give the ideal cycle time (seconds a piece) or the "
                                       "ideal rate (pieces an hour)."})


def set_ideal_cycle(product, seconds, line=None, machine=None):
    """Set the product's ideal cycle time on a line or on one machine (a machine's own beats
    its line's)."""
    if (line is None) == (machine is None):
        raise ValidationFailed({"place": "Pick a line or a machine, one of the two."})
    seconds = ideal_seconds(cycle_seconds=seconds)
    cycle = next((c for c in product.cycles if c.line_id == (line.id if line else None)
                  and c.machine_id == (machine.id if machine else None)), None)
    if cycle is None:
        cycle = IdealCycle(product=product, line=line, machine=machine, seconds=seconds)
        db.session.add(cycle)
    cycle.seconds = seconds
    db.session.flush()
    _cycle_changed(cycle)
    return cycle


def delete_cycle(cycle):
    _cycle_changed(cycle)
    cycle.product.cycles.remove(cycle)
    db.session.flush()


def _cycle_changed(cycle):
    """Performance everywhere the cycle applies is redone, as far back as we redo."""
    line = cycle.line or (cycle.machine.line if cycle.machine else None)
    if line is not None:
        calendar_changed([line], date.min + timedelta(days=1))


# --- reasons --------------------------------------------------------------------------------

def reason_tree():
    return db.session.scalars(select(ReasonCategory).order_by(ReasonCategory.name)).all()


def save_category(category, name):
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "Give the category a name, e.g. Mechanical."
    else:
        _taken(errors, ReasonCategory, ReasonCategory.name, name, "name", category.id)
    if errors:
        raise ValidationFailed(errors)
    category.name = name
    if category.id is None:
        db.session.add(category)
    db.session.flush()
    return category


def save_reason(reason, category, name, loss, planned=False, active=True):
    name = (name or "").strip()
    errors = {}
    if category is None:
        errors["category_id"] = "That category does not exist."
    if not name:
        errors["name"] = "Give the reason a name, e.g. Tool breakage."
    if loss not in dict(LOSSES):
        errors["loss"] = "Pick which of the six big losses this is."
    elif planned and loss in ("startup_reject", "production_reject"):
        errors["planned"] = "A reject is never planned; untick planned."
    if not errors:
        twin = db.session.scalar(select(Reason).filter_by(category_id=category.id, name=name))
        if twin is not None and twin.id != reason.id:
            errors["name"] = f"{category.name} already has a reason '{name}'."
    if errors:
        raise ValidationFailed(errors)
    reason.category, reason.name, reason.loss = category, name, loss
    reason.planned, reason.active = bool(planned), bool(active)
    if reason.id is None:
        db.session.add(reason)
    db.session.flush()
    return reason


def find_reason(reason_id, reject=None):
    """The active reason with this id, else ValidationFailed; `reject` True asks for a
    reject (quality) reason, False for a stop reason."""
    reason = db.session.get(Reason, reason_id) if reason_id else None
    if reason is None or not reason.active:
        raise ValidationFailed({"reason_id": "That reason does not exist."})
    if reject is True and not reason.is_reject_reason:
        raise ValidationFailed({"reason_id": f"'{reason.name}' is a stop reason, not a reject "
                                             "reason."})
    if reject is False and reason.is_reject_reason:
        raise ValidationFailed({"reason_id": f"'{reason.name}' is a reject reason, not a stop "
                                             "reason."})
    return reason
