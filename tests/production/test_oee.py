"""OEE worked out by hand, then by Floorline from counts and downtimes.

The plant (conftest): Europe/Berlin; Early 06:00–14:00 local with a 10:00–10:30 break,
Late 14:00–22:00, Night 22:00–06:00, Monday to Friday; product P-1 at 30 s a piece.
November is CET (UTC+1): Early is 05:00–13:00 UTC.
"""

from datetime import UTC, date, datetime, time

import pytest
from sqlalchemy import select

from app.blueprints.production import oee, services, setup
from app.blueprints.production.models import OeeCalculation, Product, Shift, ShiftPattern
from app.core.errors import ValidationFailed
from app.core.extensions import db


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def row(period, label, machine=None, line=None):
    stmt = select(OeeCalculation).filter_by(period=period, label=label)
    if machine is not None:
        stmt = stmt.filter_by(machine_id=machine.id)
    else:
        stmt = stmt.filter_by(machine_id=None, line_id=line.id)
    return db.session.scalar(stmt)


def test_a_plain_shift(plant):
    machine, product = plant["machine"], plant["product"]
    # Monday 2 Nov, Early: 30 min tool breakage 07:00–07:30 local; 700 good, 20 scratched.
    services.record_downtime(machine, utc(2026, 11, 2, 6), utc(2026, 11, 2, 6, 30),
                             plant["reasons"]["breakdown"])
    services.record_count(machine, utc(2026, 11, 2, 8), good=400, product=product)
    services.record_count(machine, utc(2026, 11, 2, 12), good=300, reject=20,
                          reject_reason_id=plant["reasons"]["scratch"].id, product=product)
    db.session.commit()
    # planned      = 8 h − 0.5 h break          = 7.5 h = 27 000 s
    # run          = 27 000 − 1 800 downtime    = 25 200 s
    # availability = 25 200 / 27 000           = 0.933 333
    # performance  = 30 s × 720 / 25 200        = 21 600 / 25 200 = 0.857 143
    # quality      = 700 / 720                  = 0.972 222
    # OEE          = 0.933 333 × 0.857 143 × 0.972 222 = 0.777 778 (= 30 × 700 / 27 000)
    shift = row("shift", "2026-11-02 Early", machine)
    assert (shift.planned_seconds, shift.planned_stop_seconds, shift.downtime_seconds,
            shift.run_seconds) == (27000, 1800, 1800, 25200)
    assert (shift.total_count, shift.good_count, shift.reject_count) == (720, 700, 20)
    assert shift.availability == pytest.approx(25200 / 27000)
    assert shift.performance == pytest.approx(21600 / 25200)
    assert shift.quality == pytest.approx(700 / 720)
    assert shift.oee == pytest.approx(21000 / 27000)
    assert shift.performance_over is False
    # The line is its one machine.
    line_row = row("shift", "2026-11-02 Early", line=plant["line"])
    assert line_row.oee == pytest.approx(shift.oee)
    assert line_row.planned_seconds == 27000
    # The waterfall: 27 000 → −1 800 → 25 200 → −3 600 → 21 600 → −600 → 21 000 s.
    assert [(name, round(s)) for name, s in oee.waterfall(shift)] == [
        ("Planned production time", 27000), ("Availability loss", 1800), ("Run time", 25200),
        ("Performance loss", 3600), ("Net run time", 21600), ("Quality loss", 600),
        ("Fully productive time", 21000)]
    # The hour 07:00–08:00 local holds the whole stop: A = 1 800 / 3 600 = 0.5; nothing was
    # counted in it, so performance and OEE are 0.
    hour = row("hour", "2026-11-02 07:00", machine)
    assert (hour.planned_seconds, hour.run_seconds, hour.availability, hour.oee) == \
        (3600, 1800, 0.5, 0.0)
    # The day: Early 7.5 h + Late 8 h + the first 2 h of Night = 17.5 h planned.
    day = row("day", "2026-11-02", machine)
    assert day.planned_seconds == 17.5 * 3600
    assert day.run_seconds == 17.5 * 3600 - 1800


def test_no_planned_time_is_no_planned_production_not_zero(plant):
    machine = plant["machine"]
    # Saturday 7 Nov 10:00 local: no shift, yet someone ran 10 pieces.
    services.record_count(machine, utc(2026, 11, 7, 9), good=10, product=plant["product"])
    hour = row("hour", "2026-11-07 10:00", machine)
    assert hour.planned is False and hour.total_count == 10
    assert (hour.availability, hour.performance, hour.quality, hour.oee) == (None,) * 4
    assert oee.waterfall(hour) == []
    assert oee.ratios(0, 0, 0, 0, 0).oee is None
    # No shift bucket was made: there is no shift.
    assert db.session.scalar(select(OeeCalculation).filter_by(
        machine_id=machine.id, period="shift")) is None


def test_downtime_across_a_shift_boundary_is_split(plant):
    machine = plant["machine"]
    # Tuesday 3 Nov, 13:30–14:30 local (12:30–13:30 UTC): half in Early, half in Late.
    services.record_downtime(machine, utc(2026, 11, 3, 12, 30), utc(2026, 11, 3, 13, 30),
                             plant["reasons"]["breakdown"])
    early = row("shift", "2026-11-03 Early", machine)
    late = row("shift", "2026-11-03 Late", machine)
    # Early: A = (27 000 − 1 800) / 27 000 = 0.933 333; Late: (28 800 − 1 800) / 28 800 = 0.9375
    assert (early.downtime_seconds, late.downtime_seconds) == (1800, 1800)
    assert early.availability == pytest.approx(25200 / 27000)
    assert late.availability == pytest.approx(0.9375)
    assert row("day", "2026-11-03", machine).downtime_seconds == 3600


def test_performance_over_100_percent_is_capped_and_flagged(plant):
    machine = plant["machine"]
    # Wednesday 4 Nov Early, no stops: 1 000 pieces at 30 s = 30 000 s of ideal time in
    # 27 000 s of run time: 111 % — the ideal cycle time must be wrong.
    services.record_count(machine, utc(2026, 11, 4, 12), good=1000, product=plant["product"])
    shift = row("shift", "2026-11-04 Early", machine)
    assert shift.ideal_seconds == 30000 and shift.run_seconds == 27000
    assert shift.performance == 1.0 and shift.performance_over is True
    # OEE = 1 × 1 × 1 = 1, not 1.11
    assert shift.oee == 1.0


def test_a_planned_stop_shortens_planned_time(plant):
    machine = plant["machine"]
    # Thursday 5 Nov Early: planned maintenance 08:00–09:00 local (07:00–08:00 UTC).
    services.record_downtime(machine, utc(2026, 11, 5, 7), utc(2026, 11, 5, 8),
                             plant["reasons"]["maintenance"])
    services.record_count(machine, utc(2026, 11, 5, 12), good=702, product=plant["product"])
    shift = row("shift", "2026-11-05 Early", machine)
    # planned = 8 h − 0.5 h break − 1 h maintenance = 6.5 h = 23 400 s; no downtime: A = 1
    # performance = 30 × 702 / 23 400 = 21 060 / 23 400 = 0.9; quality 1; OEE 0.9
    assert (shift.planned_seconds, shift.planned_stop_seconds, shift.downtime_seconds) == \
        (23400, 5400, 0)
    assert shift.availability == 1.0
    assert shift.oee == pytest.approx(0.9)


def test_a_stop_after_the_fact_can_become_planned(plant):
    machine = plant["machine"]
    stop = services.record_downtime(machine, utc(2026, 11, 5, 7), utc(2026, 11, 5, 8))
    assert row("shift", "2026-11-05 Early", machine).downtime_seconds == 3600
    services.set_downtime_reason(stop, plant["reasons"]["maintenance"].id)
    shift = row("shift", "2026-11-05 Early", machine)
    assert (shift.planned_seconds, shift.downtime_seconds) == (23400, 0)
    with pytest.raises(ValidationFailed, match="does not exist"):
        services.set_downtime_reason(stop, 999999)
    with pytest.raises(ValidationFailed, match="is a reject reason"):
        services.set_downtime_reason(stop, plant["reasons"]["scratch"].id)


def test_overlapping_stops_count_once_and_short_ones_are_not_availability(plant):
    machine = plant["machine"]
    # Monday 9 Nov Early: an andon stop 07:00–07:40 and an issue 07:20–08:00 local (one
    # 60 min stop, not 80), and a 2 min jam at 09:00 (below the 5 min small-stop threshold).
    services.record_downtime(machine, utc(2026, 11, 9, 6), utc(2026, 11, 9, 6, 40))
    services.record_downtime(machine, utc(2026, 11, 9, 6, 20), utc(2026, 11, 9, 7))
    services.record_downtime(machine, utc(2026, 11, 9, 8), utc(2026, 11, 9, 8, 2))
    shift = row("shift", "2026-11-09 Early", machine)
    # run = 27 000 − 3 600 = 23 400; the jam's 120 s is a performance loss
    assert (shift.downtime_seconds, shift.small_stop_seconds, shift.run_seconds) == \
        (3600, 120, 23400)


def test_a_counter_reset_and_a_rollover_are_not_negative_counts(plant):
    assert services.counter_delta(100, 130) == 30
    assert services.counter_delta(180, 5) == 5                    # reset: 5 since zero
    assert services.counter_delta(65530, 4, rollover=65535) == 10  # 5 to the top, 0..4
    assert services.counter_delta(None, 50) == 0
    machine = plant["machine"]
    # Friday 6 Nov Early: the counter stood at 100, then 130, 180, reset, 5, 45:
    # 30 + 50 + 5 + 40 = 125 pieces.
    services.record_counter_readings(machine, [
        (utc(2026, 11, 6, 6), 130), (utc(2026, 11, 6, 7), 180), (utc(2026, 11, 6, 8), 5),
        (utc(2026, 11, 6, 9, 45), 45)], previous=100, product=plant["product"])
    shift = row("shift", "2026-11-06 Early", machine)
    # performance = 30 × 125 / 27 000 = 3 750 / 27 000 = 0.138 889
    assert shift.total_count == 125
    assert shift.performance == pytest.approx(3750 / 27000)


def test_a_night_shift_across_the_change_to_winter_time(make_line, make_machine):
    # Saturday 24 Oct 2026 night 22:00 CEST → Sunday 06:00 CET: 9 real hours = 32 400 s.
    line = make_line()
    machine = make_machine(line=line)
    nights = setup.save_pattern(ShiftPattern(), "Nights", 1, cycle_start=date(2026, 1, 1))
    setup.save_shift(nights, Shift(), "Night", time(22), time(6), [1])
    setup.assign_pattern(line, nights, date(2026, 1, 1))
    product = setup.save_product(Product(), "P-9", "Panel")
    setup.set_ideal_cycle(product, 36, machine=machine)
    # 810 pieces at 36 s = 29 160 s of ideal time; performance = 29 160 / 32 400 = 0.9
    # (a calendar that thought the night was 8 h would say 29 160 / 28 800 = 101 %)
    services.record_count(machine, utc(2026, 10, 25, 3), good=810, product=product)
    shift = row("shift", "2026-10-24 Night", machine)
    assert (shift.starts_at, shift.ends_at) == (utc(2026, 10, 24, 20), utc(2026, 10, 25, 5))
    assert shift.planned_seconds == 32400
    assert shift.performance == pytest.approx(0.9) and shift.performance_over is False
    # The plant day of Sunday 25 Oct has 25 hours; it holds the night's last 6 local hours
    # 00:00–06:00, which are 7 real hours (two 02:00s), and 22:00–24:00 of its own night.
    assert row("day", "2026-10-25", machine).planned_seconds == (7 + 2) * 3600


def test_late_counts_update_an_hour_already_computed(plant):
    machine, product = plant["machine"], plant["product"]
    # Monday 9 Nov, 07:00–08:00 local: 100 pieces counted at 07:10, then 10:15 reported.
    services.record_count(machine, utc(2026, 11, 9, 6, 10), good=100, product=product)
    services.record_count(machine, utc(2026, 11, 9, 9, 15), good=50, product=product)
    db.session.commit()
    first = row("hour", "2026-11-09 07:00", machine)
    # performance = 30 × 100 / 3 600 = 0.833 333
    assert first.performance == pytest.approx(3000 / 3600)
    untouched = row("hour", "2026-11-09 10:00", machine).computed_at
    # A count from 07:40 arrives late: 20 more pieces → 30 × 120 / 3 600 = 1.0
    services.record_count(machine, utc(2026, 11, 9, 6, 40), good=20, product=product)
    db.session.commit()
    again = row("hour", "2026-11-09 07:00", machine)
    assert again.total_count == 120 and again.performance == pytest.approx(1.0)
    assert row("shift", "2026-11-09 Early", machine).total_count == 170
    assert row("day", "2026-11-09", line=plant["line"]).total_count == 170
    assert row("hour", "2026-11-09 10:00", machine).computed_at == untouched  # not redone


def test_a_line_adds_its_machines_up(plant, make_machine):
    line, product = plant["line"], plant["product"]
    second = make_machine(code="PRESS-2", line=line)
    # Tuesday 10 Nov Early. PRESS-1: 810 good, no stop. PRESS-2: 1 h down, 630 good.
    services.record_count(plant["machine"], utc(2026, 11, 10, 12), good=810, product=product)
    services.record_downtime(second, utc(2026, 11, 10, 6), utc(2026, 11, 10, 7))
    services.record_count(second, utc(2026, 11, 10, 12), good=630, product=product)
    # line planned = 2 × 27 000 = 54 000; run = 54 000 − 3 600 = 50 400
    # A = 50 400 / 54 000 = 0.933 333; P = 30 × 1 440 / 50 400 = 43 200 / 50 400 = 0.857 143
    # OEE = 43 200 / 54 000 = 0.8
    line_row = row("shift", "2026-11-10 Early", line=line)
    assert (line_row.planned_seconds, line_row.run_seconds, line_row.total_count) == \
        (54000, 50400, 1440)
    assert line_row.oee == pytest.approx(0.8)


def test_counts_are_checked(plant):
    machine = plant["machine"]
    with pytest.raises(ValidationFailed, match="zero or more"):
        services.record_count(machine, utc(2026, 11, 2, 8), good=-3)
    with pytest.raises(ValidationFailed, match="does not exist"):
        services.record_count(machine, utc(2026, 11, 2, 8), good=1, reject=1,
                              reject_reason_id=424242)
    with pytest.raises(ValidationFailed, match="in the future"):
        services.record_count(machine, utc(2099, 1, 1), good=1)
    with pytest.raises(ValidationFailed, match="more than zero"):
        setup.set_ideal_cycle(plant["product"], 0, line=plant["line"])
    with pytest.raises(ValidationFailed, match="more than zero"):
        setup.ideal_seconds(per_hour=-5)
    assert setup.ideal_seconds(per_hour=120) == 30
