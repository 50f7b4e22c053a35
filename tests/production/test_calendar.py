"""Shift calendars: wall-clock shifts turned into UTC per day, breaks, rotations, line
assignments by date, exceptions, daylight saving; and the refusals of the editors' rules."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from app.blueprints.production import setup
from app.blueprints.production.calendar import planned_intervals
from app.blueprints.production.models import CalendarException, Shift, ShiftBreak, ShiftPattern
from app.core.errors import ValidationFailed


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def summary(instances):
    return [(i.label, i.start, i.end, i.planned_seconds / 3600) for i in instances]


def test_a_weekday_in_winter(plant):
    # Monday 2 Nov 2026, CET = UTC+1. From Monday 00:00 to Tuesday 00:00 local: Early and Late
    # whole, the first two hours of Monday's Night; no Sunday night shift to run into Monday.
    found = planned_intervals(plant["line"].id, utc(2026, 11, 1, 23), utc(2026, 11, 2, 23))
    assert summary(found) == [
        ("2026-11-02 Early", utc(2026, 11, 2, 5), utc(2026, 11, 2, 13), 7.5),  # 8 h − break
        ("2026-11-02 Late", utc(2026, 11, 2, 13), utc(2026, 11, 2, 21), 8.0),
        ("2026-11-02 Night", utc(2026, 11, 2, 21), utc(2026, 11, 2, 23), 2.0),
    ]
    early = found[0]
    assert early.stops == ((utc(2026, 11, 2, 9), utc(2026, 11, 2, 9, 30)),)


def test_the_weekend_has_no_shifts_but_friday_night_runs_into_saturday(plant):
    # Saturday 7 Nov 2026 local: only the tail of Friday's night shift, 00:00–06:00.
    found = planned_intervals(plant["line"].id, utc(2026, 11, 6, 23), utc(2026, 11, 7, 23))
    assert summary(found) == [("2026-11-06 Night", utc(2026, 11, 6, 23),
                               utc(2026, 11, 7, 5), 6.0)]


def test_no_pattern_before_the_assignment_and_a_new_pattern_from_its_date(plant, make_line):
    line = plant["line"]
    assert planned_intervals(line.id, utc(2025, 12, 1), utc(2025, 12, 2)) == []
    single = setup.save_pattern(ShiftPattern(), "Day only", 7)
    setup.save_shift(single, Shift(), "Day", time(7), time(15), [1, 2, 3, 4, 5])
    setup.assign_pattern(line, single, date(2026, 11, 9))
    # Friday 6 Nov still 3 × 8; Monday 9 Nov the new pattern.
    assert [i.name for i in planned_intervals(line.id, utc(2026, 11, 6, 0),
                                              utc(2026, 11, 6, 20))] == ["Night", "Early",
                                                                          "Late"]
    monday = planned_intervals(line.id, utc(2026, 11, 8, 23), utc(2026, 11, 9, 23))
    assert summary(monday) == [("2026-11-09 Day", utc(2026, 11, 9, 6), utc(2026, 11, 9, 14),
                                8.0)]


def test_a_night_shift_across_both_changes_of_clocks(make_line):
    # One night shift every day, 22:00–06:00. On 28/29 March 2026 the clocks go forward
    # at 02:00 (7 real hours); on 24/25 October back at 03:00 (9 real hours).
    line = make_line()
    nights = setup.save_pattern(ShiftPattern(), "Nights", 1, cycle_start=date(2026, 1, 1))
    setup.save_shift(nights, Shift(), "Night", time(22), time(6), [1])
    setup.assign_pattern(line, nights, date(2026, 1, 1))

    def night_of(day):
        noon = utc(*day, 12)
        found = planned_intervals(line.id, noon, noon + timedelta(days=1))
        return next(i for i in found if i.day == date(*day))

    spring = night_of((2026, 3, 28))
    assert (spring.start, spring.end) == (utc(2026, 3, 28, 21), utc(2026, 3, 29, 4))
    assert spring.planned_seconds == 7 * 3600
    autumn = night_of((2026, 10, 24))
    assert (autumn.start, autumn.end) == (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))
    assert autumn.planned_seconds == 9 * 3600
    assert night_of((2026, 11, 2)).planned_seconds == 8 * 3600


def test_a_rotation_over_four_days(make_line):
    # 2 × 12 h: days 1–2 Day shift, days 3–4 Night shift, day 1 = Thursday 5 Nov 2026.
    line = make_line()
    rota = setup.save_pattern(ShiftPattern(), "2 x 12 rota", 4, cycle_start=date(2026, 11, 5))
    setup.save_shift(rota, Shift(), "Day", time(6), time(18), [1, 2])
    setup.save_shift(rota, Shift(), "Night", time(18), time(6), [3, 4])
    setup.assign_pattern(line, rota, date(2026, 11, 1))
    found = planned_intervals(line.id, utc(2026, 11, 4, 23), utc(2026, 11, 13, 23))
    # 4 November is day 4 of the cycle before: its night runs into the window.
    assert [i.label for i in found] == [
        "2026-11-04 Night", "2026-11-05 Day", "2026-11-06 Day", "2026-11-07 Night", "2026-11-08 Night",
        "2026-11-09 Day", "2026-11-10 Day", "2026-11-11 Night", "2026-11-12 Night",
        "2026-11-13 Day"]
    assert found[3].end == utc(2026, 11, 8, 5)  # Saturday's night ends Sunday 06:00 local


def test_holidays_take_shifts_away_and_overtime_adds_time_once(plant, make_line):
    line = plant["line"]
    setup.save_exception(CalendarException(), "holiday", "Plant holiday", date(2026, 11, 3),
                         date(2026, 11, 3))
    # Overtime 12:00–16:00 on Wednesday overlaps Early and Late: nothing is added twice.
    setup.save_exception(CalendarException(), "overtime", "Overtime", date(2026, 11, 4),
                         date(2026, 11, 4), line=line, starts=time(12), ends=time(16))
    # Saturday extra shift 06:00–12:00 on this line only.
    setup.save_exception(CalendarException(), "extra_shift", "Saturday shift",
                         date(2026, 11, 7), date(2026, 11, 7), line=line, starts=time(6),
                         ends=time(12))
    tuesday = planned_intervals(line.id, utc(2026, 11, 2, 23), utc(2026, 11, 3, 23))
    # Only the tail of Monday's night shift remains on Tuesday.
    assert [i.label for i in tuesday] == ["2026-11-02 Night"]
    wednesday = planned_intervals(line.id, utc(2026, 11, 3, 23), utc(2026, 11, 4, 23))
    assert [i.label for i in wednesday] == ["2026-11-04 Early", "2026-11-04 Late",
                                            "2026-11-04 Night"]
    saturday = planned_intervals(line.id, utc(2026, 11, 6, 23), utc(2026, 11, 7, 23))
    assert summary(saturday)[1] == ("2026-11-07 Saturday shift", utc(2026, 11, 7, 5),
                                    utc(2026, 11, 7, 11), 6.0)
    other = make_line()
    assert planned_intervals(other.id, utc(2026, 11, 6, 23), utc(2026, 11, 7, 23)) == []


def test_overlapping_shifts_in_one_pattern_are_refused(plant):
    pattern = plant["pattern"]
    with pytest.raises(ValidationFailed, match="overlaps Early"):
        setup.save_shift(pattern, Shift(), "Middle", time(12), time(16), [1])
    # Friday's night runs into Saturday 06:00: a Saturday 05:00 shift would overlap it.
    with pytest.raises(ValidationFailed, match="overlaps Night"):
        setup.save_shift(pattern, Shift(), "Saturday", time(5), time(9), [6])
    assert [s.name for s in pattern.shifts] == ["Early", "Late", "Night"]
    # Saturday from 06:00 is fine.
    setup.save_shift(pattern, Shift(), "Saturday", time(6), time(12), [6])


def test_a_rotation_wraps_round_its_cycle():
    rota = setup.save_pattern(ShiftPattern(), "Wrap", 2, cycle_start=date(2026, 1, 1))
    setup.save_shift(rota, Shift(), "Night", time(22), time(6), [2])
    with pytest.raises(ValidationFailed, match="overlaps Night"):
        setup.save_shift(rota, Shift(), "Early", time(5), time(13), [1])


def test_a_break_outside_its_shift_is_refused(plant):
    early = plant["pattern"].shifts[0]
    with pytest.raises(ValidationFailed, match="outside the shift Early"):
        setup.save_break(early, ShiftBreak(), "Late lunch", time(13, 45), time(14, 15))
    with pytest.raises(ValidationFailed, match="overlaps Break"):
        setup.save_break(early, ShiftBreak(), "Meeting", time(10, 15), time(10, 45))
    night = plant["pattern"].shifts[2]
    setup.save_break(night, ShiftBreak(), "Night break", time(2), time(2, 30))  # after midnight
    assert [b.name for b in early.breaks] == ["Break"]


def test_rotations_need_their_first_day_and_exceptions_their_times():
    with pytest.raises(ValidationFailed) as refused:
        setup.save_pattern(ShiftPattern(), "Rota", 4)
    assert refused.value.errors == {"cycle_start": "A rotation needs the date its day 1 "
                                                   "falls on."}
    with pytest.raises(ValidationFailed) as refused:
        setup.save_exception(CalendarException(), "overtime", "OT", date(2026, 1, 2),
                             date(2026, 1, 1))
    assert set(refused.value.errors) == {"last_day", "starts"}
