"""The production setup pages as a manager uses them: each bad input comes back as the form
with a clear message and changes nothing; calendar edits have the OEE redone by a job."""

import contextlib
from datetime import UTC, date, datetime, time, timedelta

import pytest
from rq import Queue
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from sqlalchemy import func, select

from app.blueprints.production import services, setup
from app.blueprints.production.models import (
    CalendarException,
    IdealCycle,
    LinePattern,
    OeeCalculation,
    Reason,
    Shift,
    ShiftBreak,
    ShiftPattern,
)
from app.core.extensions import db, redis_client
from app.core.models import utcnow
from app.jobs.production import recompute_line
from tests.helpers import redirect_path, text_of

JOB = "app.jobs.production.recompute_line"


@pytest.fixture
def queued(app):
    """`queued()` → the recompute jobs queued since the test began; removed afterwards."""
    queue = Queue(app.config["RQ_QUEUE"], connection=redis_client())
    before = set(queue.job_ids)
    seen = []

    def new_jobs():
        jobs = [j for j in queue.jobs if j.id not in before and j.func_name == JOB]
        seen.extend(jobs)
        return jobs
    yield new_jobs
    for job in {j.id: j for j in new_jobs() + seen}.values():
        with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
            job.delete()


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_manager_builds_a_pattern_with_shifts_and_breaks(logged_in, make_line):
    browser, _ = logged_in("production_manager")
    response = browser.post("/production/patterns/new", {"name": "3 x 8", "cycle_days": "7"})
    pattern = db.session.scalar(select(ShiftPattern).filter_by(name="3 x 8"))
    assert redirect_path(response) == f"/production/patterns/{pattern.id}"
    response = browser.post(f"/production/patterns/{pattern.id}/shifts/new", {
        "name": "Early", "starts": "06:00", "ends": "14:00", "days": ["1", "2", "3", "4", "5"]})
    assert response.status_code == 302
    shift = db.session.scalar(select(Shift).filter_by(name="Early"))
    assert shift.days == "1 2 3 4 5"
    # Overlapping Early on Monday: refused, with the reason, and nothing saved.
    response = browser.post(f"/production/patterns/{pattern.id}/shifts/new", {
        "name": "Middle", "starts": "12:00", "ends": "18:00", "days": ["1"]})
    assert response.status_code == 422
    assert "This shift overlaps Early (06:00–14:00) in the same pattern." in text_of(response)
    assert 'value="Middle"' in text_of(response)
    assert count(Shift) == 1
    # A break outside its shift: refused; inside: saved and listed.
    response = browser.post(f"/production/shifts/{shift.id}/breaks/new",
                            {"name": "Lunch", "starts": "13:30", "ends": "14:30"})
    assert response.status_code == 422
    assert "The break 13:30–14:30 is outside the shift Early (06:00–14:00)." in \
        text_of(response)
    assert count(ShiftBreak) == 0
    browser.post(f"/production/shifts/{shift.id}/breaks/new",
                 {"name": "Lunch", "starts": "10:00", "ends": "10:30"})
    page = text_of(browser.get(f"/production/patterns/{pattern.id}"))
    assert "Lunch 10:00–10:30" in page and "Mon, Tue, Wed, Thu, Fri" in page
    # A rota without its first day is refused.
    response = browser.post("/production/patterns/new", {"name": "Rota", "cycle_days": "4"})
    assert response.status_code == 422
    assert "A rotation needs the date its day 1 falls on." in text_of(response)


def test_assigning_a_line_twice_on_one_day_is_refused(logged_in, plant, queued):
    browser, _ = logged_in("shift_manager")
    line, pattern = plant["line"], plant["pattern"]
    response = browser.post("/production/assignments/new", {
        "line_id": line.id, "pattern_id": pattern.id, "effective_from": "2026-01-01"})
    assert response.status_code == 422
    assert "Line A already changes to 3 x 8 weekdays on 01 Jan 2026" in text_of(response)
    assert count(LinePattern) == 1
    assert queued() == []
    response = browser.post("/production/assignments/new", {
        "line_id": line.id, "pattern_id": pattern.id, "effective_from": "2026-11-16"})
    assert response.status_code == 302
    assert [j.args[0] for j in queued()] == [line.id]


def test_a_holiday_entered_afterwards_redoes_the_oee_of_its_day(logged_in, plant, queued):
    machine = plant["machine"]
    services.record_count(machine, datetime(2026, 11, 2, 8, tzinfo=UTC), good=100,
                          product=plant["product"])
    db.session.commit()
    assert db.session.scalar(select(OeeCalculation).filter_by(
        machine_id=machine.id, label="2026-11-02 Early")) is not None
    browser, _ = logged_in("admin")
    # Overtime needs its hours.
    response = browser.post("/production/exceptions/new", {
        "kind": "overtime", "name": "Extra", "line_id": "0", "first_day": "2026-11-02",
        "last_day": "2026-11-02"})
    assert response.status_code == 422
    assert "Added time needs a start and end time." in text_of(response)
    assert count(CalendarException) == 0
    response = browser.post("/production/exceptions/new", {
        "kind": "holiday", "name": "Plant day off", "line_id": "0", "first_day": "2026-11-02",
        "last_day": "2026-11-02"})
    assert redirect_path(response) == "/production/exceptions"
    jobs = queued()
    assert [j.args[0] for j in jobs] == [plant["line"].id]
    recompute_line(*jobs[0].args)  # what the worker does
    # The shift is gone from the calendar and from the series; the pieces stay counted.
    rows = db.session.scalars(select(OeeCalculation).filter_by(machine_id=machine.id)).all()
    assert "2026-11-02 Early" not in {r.label for r in rows}
    day = next(r for r in rows if r.label == "2026-11-02")
    assert day.planned is False and day.total_count == 100 and day.oee is None
    assert "Plant day off" in text_of(browser.get("/production/exceptions"))


def test_products_and_their_ideal_cycle_times(logged_in, make_line):
    browser, _ = logged_in("production_manager")
    line = make_line(code="L-9", name="Line 9")
    response = browser.post("/production/products/new", {"code": "p-100", "name": "Hinge",
                                                         "active": "y"})
    assert response.status_code == 302
    product_url = redirect_path(response)
    for data, message in (
            ({"seconds": "0"}, "The ideal cycle time must be more than zero seconds."),
            ({"seconds": "-4"}, "The ideal cycle time must be more than zero seconds."),
            ({"per_hour": "0"}, "The ideal rate must be more than zero pieces an hour."),
            ({}, "Give the ideal cycle time (seconds a piece) or the ideal rate")):
        response = browser.post(f"{product_url}/cycles", {"place": f"line-{line.id}", **data})
        assert response.status_code == 422, data
        assert message in text_of(response)
    assert count(IdealCycle) == 0
    browser.post(f"{product_url}/cycles", {"place": f"line-{line.id}", "per_hour": "120"})
    cycle = db.session.scalar(select(IdealCycle))
    assert cycle.seconds == 30 and cycle.line_id == line.id
    page = text_of(browser.get("/production/products"))
    assert "P-100" in page and "L-9: 30 s" in page


def test_the_reason_tree(logged_in):
    browser, _ = logged_in("shift_manager")
    assert "No reasons yet." in text_of(browser.get("/production/reasons"))
    browser.post("/production/reasons/categories/new", {"name": "Mechanical"})
    category = setup.reason_tree()[0]
    response = browser.post("/production/reasons/new", {
        "category_id": category.id, "name": "Scratch", "loss": "production_reject",
        "planned": "y", "active": "y"})
    assert response.status_code == 422
    assert "A reject is never planned; untick planned." in text_of(response)
    response = browser.post("/production/reasons/new", {
        "category_id": 999999, "name": "Ghost", "loss": "breakdown", "active": "y"})
    assert response.status_code == 422 and count(Reason) == 0
    browser.post("/production/reasons/new", {"category_id": category.id, "name": "Jam",
                                             "loss": "small_stop", "active": "y"})
    page = text_of(browser.get("/production/reasons"))
    assert "Jam" in page and "Idling and minor stops" in page and "Unplanned" in page


def test_the_overview_shows_todays_shifts_from_the_series(logged_in, make_line, make_machine):
    # Two 12 h shifts a day, midnight to midnight: whatever the hour, a shift is running.
    line = make_line(code="L-7", name="Line 7")
    machine = make_machine(line=line)
    pattern = setup.save_pattern(ShiftPattern(), "Round the clock", 1,
                                 cycle_start=date(2026, 1, 1))
    setup.save_shift(pattern, Shift(), "Day", time(0), time(12), [1])
    setup.save_shift(pattern, Shift(), "Night", time(12), time(0), [1])
    setup.assign_pattern(line, pattern, date(2026, 1, 1))
    services.record_count(machine, utcnow() - timedelta(seconds=1), good=5)
    db.session.commit()
    browser, _ = logged_in("viewer")
    page = text_of(browser.get("/production/"))
    assert "Round the clock" in page and "L-7" in page
    assert "5 / 5" in page


def test_operators_may_not_open_the_setup(logged_in):
    browser, _ = logged_in("operator")
    assert browser.get("/production/patterns").status_code == 403
    assert browser.post("/production/patterns/new", {"name": "X", "cycle_days": "7"}
                        ).status_code == 403
    assert count(ShiftPattern) == 0
