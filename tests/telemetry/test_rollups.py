"""Hourly and daily roll-ups of the readings, the chart and the period figures read from them.

Readings go in through the real ingest service (change-only storage, partial readings) with
`now` set, so received times, last-heard times and late readings are what production has.
Every expected figure is worked out by hand in the test.
"""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from app.blueprints.telemetry.rollups import floor_day, floor_hour

M, H1 = timedelta(minutes=1), timedelta(hours=1)


@pytest.fixture
def mill(make_machine, make_machine_type):
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Metric
    from app.core.extensions import db

    machine_type = make_machine_type(metrics=(("temperature", "Temperature", "°C", 20, 70),))
    services.save_metric(machine_type, Metric(), "running", "Running", "", "boolean",
                         role="running")
    db.session.commit()
    return make_machine(code="ROLL-01", machine_type=machine_type)


def feed(machine, ts, values, now=None):
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    result = ingest([{"ts": ts.isoformat(), "values": values}], "webhook", machine=machine,
                    now=now or ts + timedelta(seconds=10))
    assert not result.rejected, result.rejected
    db.session.commit()
    return result


def base_hour():
    """22:00 UTC two days ago: hours 22 and 23 of one day, then 00 and 01 of the next."""
    return floor_day(datetime.now(UTC)) - timedelta(days=2) + timedelta(hours=22)


def feed_four_hours(mill, h):
    """temperature 20 → 30 at :30 → (nothing for an hour) → 10 at 02:45; running on → off."""
    feed(mill, h, {"temperature": 20, "running": True})
    feed(mill, h + 30 * M, {"temperature": 30})
    feed(mill, h + 2 * H1 + 45 * M, {"temperature": 10, "running": False})
    unchanged = feed(mill, h + 3 * H1 + 10 * M, {"temperature": 10})  # heard from, not stored
    assert unchanged.stored == 0


def hours_of(machine):
    from app.core.extensions import db

    rows = db.session.execute(text(
        "SELECT * FROM reading_hours WHERE machine_id = :m ORDER BY metric, hour"),
        {"m": machine.id}).mappings().all()
    return {(r["metric"], r["hour"]): dict(r) for r in rows}


def days_of(machine):
    from app.core.extensions import db

    rows = db.session.execute(text(
        "SELECT metric, day, readings, low, high, area, seconds FROM reading_days "
        "WHERE machine_id = :m ORDER BY metric, day"), {"m": machine.id}).all()
    return [tuple(r) for r in rows]


def figures(row):
    return (row["readings"], row["open_value"], row["low"], row["high"], row["area"],
            row["seconds"])


def points(row):
    return [(row[f"{p}_ts"], row[f"{p}_value"]) for p in ("first", "last", "min", "max")]


def roll(now):
    from app.blueprints.telemetry.rollups import roll_up
    from app.core.extensions import db

    run = roll_up(now=now)
    db.session.commit()
    return run


# --- the hours ------------------------------------------------------------------------------

def test_each_hour_has_its_readings_and_the_value_held_into_it(app, mill):
    h = base_hour()
    feed_four_hours(mill, h)

    run = roll(h + 4 * H1 + 5 * M)

    assert run.machines == 1 and not run.busy
    rows = hours_of(mill)
    t = {k[1]: v for k, v in rows.items() if k[0] == "temperature"}
    r = {k[1]: v for k, v in rows.items() if k[0] == "running"}
    assert sorted(t) == sorted(r) == [h, h + H1, h + 2 * H1, h + 3 * H1]
    # 22:00 20 for 30 min, 30 for 30 min: 20·1800 + 30·1800.
    assert figures(t[h]) == (2, None, 20, 30, 90000, 3600)
    assert points(t[h]) == [(h, 20), (h + 30 * M, 30), (h, 20), (h + 30 * M, 30)]
    # 23:00 no reading at all: 30 held all hour.
    assert figures(t[h + H1]) == (0, 30, 30, 30, 108000, 3600)
    assert points(t[h + H1]) == [(None, None)] * 4
    # 00:00 30 held until 00:45, then 10: 30·2700 + 10·900.
    at = h + 2 * H1 + 45 * M
    assert figures(t[h + 2 * H1]) == (1, 30, 10, 30, 90000, 3600)
    assert points(t[h + 2 * H1]) == [(at, 10)] * 4
    # 01:00 10 held; the machine was heard from at 01:10, so the hour is its last.
    assert figures(t[h + 3 * H1]) == (0, 10, 10, 10, 36000, 3600)
    # The flag as 0/1: on 22:00–00:45.
    assert figures(r[h]) == (1, None, 1, 1, 3600, 3600)
    assert figures(r[h + H1]) == (0, 1, 1, 1, 3600, 3600)
    assert figures(r[h + 2 * H1]) == (1, 1, 0, 1, 2700, 3600)
    assert figures(r[h + 3 * H1]) == (0, 0, 0, 0, 0, 3600)
    # The first day is whole (22:00 and 23:00 of it have values); the second is not yet.
    day = floor_day(h)
    assert days_of(mill) == [("running", day, 1, 1, 1, 7200, 7200),
                             ("temperature", day, 2, 20, 30, 198000, 7200)]


def test_a_silent_machine_is_rolled_to_where_it_went_quiet_then_the_gap_holds(app, mill):
    h = base_hour()
    feed(mill, h, {"temperature": 20})
    feed(mill, h + 30 * M, {"temperature": 30})

    roll(h + 3 * H1)  # heard from last at 22:30: only 22:00 is known

    assert [k[1] for k in hours_of(mill)] == [h]
    feed(mill, h + 2 * H1 + 45 * M, {"temperature": 10})
    roll(h + 4 * H1 + 5 * M)

    rows = {k[1]: v for k, v in hours_of(mill).items()}
    assert sorted(rows) == [h, h + H1, h + 2 * H1]   # 01:00 not heard from yet
    assert figures(rows[h + H1]) == (0, 30, 30, 30, 108000, 3600)
    assert figures(rows[h + 2 * H1]) == (1, 30, 10, 30, 90000, 3600)


def test_late_readings_are_folded_into_their_old_hours(app, mill):
    h = base_hour()
    feed_four_hours(mill, h)
    roll(h + 4 * H1 + 5 * M)
    before = hours_of(mill)

    # At 02:10 a gateway delivers a reading from 23:30.
    late = h + H1 + 30 * M
    assert feed(mill, late, {"temperature": 50}, now=h + 4 * H1 + 10 * M).stored == 1
    run = roll(h + 4 * H1 + 20 * M)

    assert run.late == [mill.id]
    after = hours_of(mill)
    t = {k[1]: v for k, v in after.items() if k[0] == "temperature"}
    # 23:00: 30 held to 23:30, then 50: 30·1800 + 50·1800.
    assert figures(t[h + H1]) == (1, 30, 30, 50, 144000, 3600)
    assert points(t[h + H1]) == [(late, 50)] * 4
    # 00:00 now opens with 50: 50·2700 + 10·900.
    assert figures(t[h + 2 * H1]) == (1, 50, 10, 50, 144000, 3600)
    # Hours the late reading does not reach are as they were; so is the other metric.
    for key in [("temperature", h), ("temperature", h + 3 * H1),
                *[k for k in before if k[0] == "running"]]:
        assert after[key] == before[key]
    assert ("temperature", floor_day(h), 3, 20, 50, 234000, 7200) in days_of(mill)


def test_a_rerun_and_a_rebuild_change_nothing(app, mill):
    from app.blueprints.telemetry.rollups import rebuild
    from app.core.extensions import db

    h = base_hour()
    feed_four_hours(mill, h)
    roll(h + 4 * H1 + 5 * M)
    hours, days = hours_of(mill), days_of(mill)

    again = roll(h + 4 * H1 + 6 * M)
    assert again.machines == 0 and hours_of(mill) == hours and days_of(mill) == days

    assert rebuild(h - 5 * H1, {mill.id}) == 8     # two metrics × four hours, written again
    db.session.commit()
    assert hours_of(mill) == hours and days_of(mill) == days


def test_a_second_worker_finds_the_lock_taken_and_writes_nothing(app, mill):
    from sqlalchemy import create_engine

    from app.blueprints.telemetry.rollups import LOCK_KEY

    h = base_hour()
    feed_four_hours(mill, h)
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])   # another worker
    try:
        with engine.connect() as other:
            other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
            run = roll(h + 4 * H1 + 5 * M)
            other.rollback()
    finally:
        engine.dispose()

    assert run.busy and run.machines == 0 and hours_of(mill) == {}
    assert roll(h + 4 * H1 + 5 * M).machines == 1   # the next tick does the work


def test_the_job_rolls_and_reports(app, mill):
    from app.jobs.rollups import roll_up_readings

    at = floor_hour(datetime.now(UTC)) - 3 * H1
    feed(mill, at, {"temperature": 42})     # heard from last then: one hour to roll

    result = roll_up_readings()

    assert result == {"machines": 1, "hours": 1, "late": [], "busy": False}
    assert list(hours_of(mill)) == [("temperature", at)]


# --- the chart ----------------------------------------------------------------------------------

def feed_many(machine, start, hours, every, received=None):
    """A reading every `every` from `start` for `hours` hours, temperature always changing."""
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    count = int(hours * H1 / every)
    readings = [{"ts": (start + i * every).isoformat(),
                 "values": {"temperature": float((i * 37) % 23) + (i % 3) / 2,
                            **({"running": i % 50 < 40} if i % 10 == 0 else {})}}
                for i in range(count)]
    result = ingest(readings, "webhook", machine=machine, now=received or datetime.now(UTC))
    assert not result.rejected
    db.session.commit()


@pytest.mark.parametrize(("hours", "every_minutes"), [(72, 7), (1500, 50)])
def test_the_chart_draws_the_same_points_from_roll_ups_as_from_readings(
        app, mill, hours, every_minutes):
    import math

    from app.blueprints.telemetry.rollups import rebuild, rolled_to
    from app.blueprints.telemetry.series import BUCKETS, metric_series
    from app.core.extensions import db

    end = floor_hour(datetime.now(UTC)) - H1
    start = end - hours * H1
    feed_many(mill, start - 3 * H1, hours + 3, timedelta(minutes=every_minutes))
    rebuild(start - 10 * H1)
    db.session.commit()
    rolled = rolled_to([mill.id])[mill.id]
    assert rolled >= end
    hours_per_bucket = math.ceil(hours / BUCKETS)       # 1, then 3

    for key in ("temperature", "running"):
        metric = mill.machine_type.metric(key)
        from_rollups = metric_series(mill, metric, start, end, rolled=rolled)
        from_readings = metric_series(mill, metric, start, end,
                                      buckets=hours // hours_per_bucket)
        assert from_rollups.xs == from_readings.xs
        assert from_rollups.ys == from_readings.ys
        assert (from_rollups.stored, from_rollups.shown) == \
            (from_readings.stored, from_readings.shown)
        assert from_rollups.shown > 50


def test_a_long_chart_ends_with_the_latest_readings_not_rolled_yet(app, mill):
    from app.blueprints.telemetry.rollups import rolled_to
    from app.blueprints.telemetry.series import metric_series

    now = floor_hour(datetime.now(UTC)) - 30 * M        # half past, an hour ago
    feed_many(mill, now - 73 * H1, 72, timedelta(minutes=13), received=now)
    roll(now)
    rolled = rolled_to([mill.id])[mill.id]
    latest = now - 2 * M
    feed(mill, latest, {"temperature": 99.5}, now=now)   # in the hour still running
    metric = mill.machine_type.metric("temperature")
    start = now - 72 * H1 + 17 * M                      # not on the hour either

    from_rollups = metric_series(mill, metric, start, now, until=now, rolled=rolled)
    from_readings = metric_series(mill, metric, start, now, until=now)

    pairs = list(zip(from_rollups.xs, from_rollups.ys, strict=True))
    assert pairs[0] == (from_readings.xs[0], from_readings.ys[0])   # the held value at start
    assert pairs[-2:] == [(latest.timestamp(), 99.5), (now.timestamp(), 99.5)]
    assert from_rollups.stored == from_readings.stored
    assert from_rollups.xs == sorted(from_rollups.xs)
    assert max(from_rollups.ys) == max(from_readings.ys)
    assert min(y for y in from_rollups.ys if y is not None) == \
        min(y for y in from_readings.ys if y is not None)


# --- the period figures ---------------------------------------------------------------------------

def test_period_figures_are_time_weighted_from_days_hours_and_readings(app, mill):
    from app.blueprints.telemetry.aggregates import line_aggregates, plant_aggregates

    h = base_hour()
    feed_four_hours(mill, h)
    # Not rolled yet: everything from the readings, the same figures.
    unrolled = plant_aggregates(h, h + 4 * H1, [mill.id])
    roll(h + 4 * H1 + 5 * M)

    whole = plant_aggregates(h, h + 4 * H1, [mill.id])
    t, r = whole[(mill.id, "temperature")], whole[(mill.id, "running")]
    # 90000 + 108000 + 90000 + 36000 over four hours.
    assert (t.readings, t.low, t.high, t.area, t.seconds) == (3, 10, 30, 324000, 14400)
    assert t.average == 22.5
    assert (r.readings, r.low, r.high, r.average) == (2, 0, 1, 9900 / 14400)
    assert unrolled == whole
    # From the start of the first day: its day row, then 00:00 and 01:00 as hours.
    assert plant_aggregates(floor_day(h), h + 4 * H1, [mill.id]) == whole
    # Part hours at the ends from the readings: 22:15–22:30 at 20, 22:30–23:00 at 30; the
    # end stops at 02:00, the end of the hour the machine was last heard from.
    part = plant_aggregates(h + 15 * M, h + 4 * H1 + 20 * M, [mill.id])
    t = part[(mill.id, "temperature")]
    assert (t.readings, t.low, t.high, t.area, t.seconds) == (2, 10, 30, 306000, 13500)
    lines = line_aggregates(whole, {mill.id: 7})
    assert lines[(7, "temperature")].average == 22.5


def test_period_figures_read_the_hour_still_running_from_the_readings(app, mill):
    from app.blueprints.telemetry.aggregates import plant_aggregates

    h = base_hour()
    feed(mill, h, {"temperature": 40})
    feed(mill, h + H1 + 50 * M, {"temperature": 40})     # heard from; nothing changed
    roll(h + 2 * H1 + 5 * M)
    now = h + 2 * H1 + 20 * M
    feed(mill, h + 2 * H1 + M, {"temperature": 60}, now=now)

    t = plant_aggregates(h, now, [mill.id])[(mill.id, "temperature")]

    # Two rolled hours at 40, then 02:00–02:01 at 40 and 02:01–02:20 at 60 from the readings.
    assert (t.readings, t.low, t.high, t.seconds) == (2, 40, 60, 8400)
    assert t.area == 40 * 7200 + 40 * 60 + 60 * 1140


# --- the CLI ------------------------------------------------------------------------------

def test_cli_rebuilds_a_range_and_refuses_bad_input(app, mill):
    h = base_hour()
    feed_four_hours(mill, h)
    runner = app.test_cli_runner()

    done = runner.invoke(args=["telemetry", "rollups", "rebuild", "--since",
                               (h - H1).strftime("%Y-%m-%dT%H:%M"), "--machine", "ROLL-01"])
    assert done.exit_code == 0, done.output
    assert "Rolled 8 metric-hours" in done.output and "ROLL-01" in done.output
    assert len(hours_of(mill)) == 8

    bad = runner.invoke(args=["telemetry", "rollups", "rebuild", "--since", "last week"])
    assert bad.exit_code == 2 and "is not a date and time" in bad.output
    unknown = runner.invoke(args=["telemetry", "rollups", "rebuild", "--since", "2026-11-01",
                                  "--machine", "NOPE"])
    assert unknown.exit_code == 2 and "No machine with the code NOPE" in unknown.output


def test_a_corrected_reading_is_rolled_again(app, mill, make_user):
    from app.blueprints.telemetry import stored

    h = base_hour()
    feed_four_hours(mill, h)
    roll(h + 4 * H1 + 5 * M)
    reading = stored.find_reading(mill.id, h + 30 * M)
    stored.correct_reading(make_user("admin"), reading, {"temperature": 40}, "sensor swapped")
    from app.core.extensions import db
    db.session.commit()

    run = roll(h + 4 * H1 + 6 * M)
    assert run.machines == 1
    t = {k[1]: v for k, v in hours_of(mill).items() if k[0] == "temperature"}
    # 22:00: 20 for 30 min, then 40 (was 30): 20·1800 + 40·1800.
    assert figures(t[h]) == (2, None, 20, 40, 108000, 3600)
    # 23:00 now holds 40 all hour.
    assert figures(t[h + H1]) == (0, 40, 40, 40, 144000, 3600)
