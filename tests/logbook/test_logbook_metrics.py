"""Logbook metrics on fixture data whose numbers are worked out by hand below."""

from datetime import UTC, date, datetime, timedelta

import pytest

from app.blueprints.logbook import metrics
from app.blueprints.production.models import Downtime
from app.core.extensions import db
from app.core.models import utcnow
from tests.helpers import text_of

# 30 days ending 30 Jun 2030 12:00 UTC: from 1 Jun 00:00, 29 days + 12 h = 708 hours.
NOW = datetime(2030, 6, 30, 12, 0, tzinfo=UTC)
HOURS = 708


def at(day, hour=0, month=6):
    return datetime(2030, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def add_issue(make_user, make_issue):
    """An issue from the one reporter of these tests, titled by its category."""
    reporter = make_user("maintenance")

    def add(machine, created_at, category="mechanical", **fields):
        return make_issue(machine, reporter, created_at=created_at, category=category,
                          title=f"{category} problem", description="Something is wrong.",
                          **fields)
    return add


def add_downtime(machine, started_at, ended_at=None, issue=None, source="andon"):
    db.session.add(Downtime(machine=machine, started_at=started_at, ended_at=ended_at,
                            source="issue" if issue else source,
                            issue_id=issue.id if issue else None))


@pytest.fixture
def plant(make_machine, make_user, add_issue):
    """Three machines; the operator works at C only."""
    operator = make_user("operator")
    a = make_machine(code="CNC-A", name="Lathe A")
    b = make_machine(code="CNC-B", name="Mill B")
    c = make_machine(code="CNC-C", name="Grinder C", operators=[operator])

    add_issue(a, at(20, month=5))                           # before the window: not counted
    # Resolved after 2 h, 4 h and 6 h: MTTR 4 h.
    a1 = add_issue(a, at(10, 8), status="resolved", resolved_at=at(10, 10), runnable=False,
                   alarm_code="AL-012")
    add_issue(a, at(12, 8), category="electrical", status="closed", resolved_at=at(12, 12),
              closed_at=at(13), alarm_code="al-012 ")
    a3 = add_issue(a, at(20, 9), category="alarm", alarm_code="SV0401")
    b1 = add_issue(b, at(15), status="resolved", resolved_at=at(15, 6), runnable=False,
                   alarm_code="AL-012")
    add_issue(b, at(25), category="alarm", status="in_progress", alarm_code="SV0401")
    # Resolved in the window but reopened since: not resolved, and not in MTTR.
    add_issue(b, at(5), category="tooling", status="in_progress", resolved_at=at(6))
    c1 = add_issue(c, at(30, 10), category="hydraulic", runnable=False, alarm_code="EX1004")

    # A: 4 h of a stop that began before the window, 2 h, and 06–09 h + 12–18 h
    # overlapping (merged: 9 h) = 15 h.
    add_downtime(a, at(31, 20, month=5), at(1, 4))
    add_downtime(a, at(10, 8), at(10, 10), issue=a1)
    add_downtime(a, at(20, 9), at(20, 15), issue=a3)
    add_downtime(a, at(20, 12), at(20, 18))
    # B: 6 h, and a stop still going since 06:00 today = 6 h more: 12 h.
    add_downtime(b, at(15), at(15, 6), issue=b1)
    add_downtime(b, at(30, 6))
    # C: still down since 10:00 today = 2 h; a stop in May does not count.
    add_downtime(c, at(30, 10), issue=c1)
    add_downtime(c, at(1, month=5), at(2, month=5))
    db.session.commit()
    return {"a": a, "b": b, "c": c, "operator": operator}


@pytest.fixture
def manager(make_user):
    return make_user("production_manager")


def test_window_is_whole_utc_days_up_to_now():
    window = metrics.window_for(30, NOW)
    assert window.start == at(1)
    assert window.hours == HOURS
    assert (window.first_day, window.last_day) == (date(2030, 6, 1), date(2030, 6, 30))


def test_counts_and_mttr(plant, manager):
    data = metrics.logbook_metrics(manager, 30, now=NOW)
    assert data["opened"] == 7
    assert data["resolved"] == 3
    assert data["mttr_hours"] == pytest.approx(4.0)
    assert data["mttr_count"] == 3
    assert data["open_now"] == 5          # the four open in the window and the May one
    assert data["failures"] == 4
    assert data["downtime_hours"] == pytest.approx(15 + 12 + 2)
    assert [(r["value"], r["count"]) for r in data["by_category"]] == [
        ("alarm", 2), ("mechanical", 2), ("electrical", 1), ("hydraulic", 1), ("tooling", 1)]
    assert dict((r["value"], r["count"]) for r in data["by_status"]) == {
        "resolved": 2, "closed": 1, "open": 2, "in_progress": 2}


def test_opened_and_resolved_per_day(plant, manager):
    series = metrics.logbook_metrics(manager, 30, now=NOW)["series"]
    assert series["size"] == 1
    buckets = series["buckets"]
    assert len(buckets) == 30
    assert buckets[0]["start"] == date(2030, 6, 1) and buckets[-1]["start"] == date(2030, 6, 30)
    opened = {b["start"].day: b["opened"] for b in buckets if b["opened"]}
    resolved = {b["start"].day: b["resolved"] for b in buckets if b["resolved"]}
    assert opened == {5: 1, 10: 1, 12: 1, 15: 1, 20: 1, 25: 1, 30: 1}
    assert resolved == {10: 1, 12: 1, 15: 1}


def test_machines_downtime_mtbf_and_top(plant, manager):
    data = metrics.logbook_metrics(manager, 30, now=NOW)
    rows = {r["machine"].code: r for r in data["machines"]}
    assert rows["CNC-A"]["downtime_hours"] == pytest.approx(15)
    assert rows["CNC-B"]["downtime_hours"] == pytest.approx(12)
    assert rows["CNC-C"]["downtime_hours"] == pytest.approx(2)
    # Failures: A's a1 (cannot run) and a3 (has downtime); B's b1; C's c1.
    assert {c: r["failures"] for c, r in rows.items()} == {"CNC-A": 2, "CNC-B": 1, "CNC-C": 1}
    assert rows["CNC-A"]["mtbf_hours"] == pytest.approx((HOURS - 15) / 2)   # 346.5
    assert rows["CNC-B"]["mtbf_hours"] == pytest.approx(HOURS - 12)         # 696
    assert rows["CNC-C"]["mtbf_hours"] == pytest.approx(HOURS - 2)          # 706
    assert rows["CNC-A"]["mttr_hours"] == pytest.approx(3)
    assert rows["CNC-B"]["mttr_hours"] == pytest.approx(6)
    assert rows["CNC-C"]["mttr_hours"] is None
    assert [(r["machine"].code, r["issues"]) for r in data["top_machines"]] == [
        ("CNC-A", 3), ("CNC-B", 3), ("CNC-C", 1)]
    assert [r["machine"].code for r in data["downtime_rows"]] == ["CNC-A", "CNC-B", "CNC-C"]


def test_top_machines_stop_at_ten(make_machine, manager, add_issue):
    for n in range(12):
        machine = make_machine(code=f"T-{n:02d}")
        for _ in range(n + 1):
            add_issue(machine, at(29))
    data = metrics.logbook_metrics(manager, 30, now=NOW)
    assert [r["machine"].code for r in data["top_machines"]] == [f"T-{n:02d}" for n in
                                                                  range(11, 1, -1)]


def test_repeat_alarm_codes(plant, manager):
    repeats = metrics.logbook_metrics(manager, 30, now=NOW)["repeat_codes"]
    assert [(r["code"], r["count"]) for r in repeats] == [("AL-012", 3), ("SV0401", 2)]
    assert [(m["code"], m["count"]) for m in repeats[0]["machines"]] == [("CNC-A", 2),
                                                                          ("CNC-B", 1)]
    assert [m["code"] for m in repeats[1]["machines"]] == ["CNC-A", "CNC-B"]


def test_a_shorter_window_clips_downtime(plant, manager):
    # 2 days: 29 Jun 00:00 to 30 Jun 12:00 = 36 h; only today's stops fall in it.
    data = metrics.logbook_metrics(manager, 2, now=NOW)
    rows = {r["machine"].code: r for r in data["machines"]}
    assert data["window"].hours == 36
    assert rows["CNC-B"]["downtime_hours"] == pytest.approx(6)
    assert rows["CNC-C"]["mtbf_hours"] == pytest.approx(36 - 2)
    assert "CNC-A" not in rows
    assert data["opened"] == 1 and data["mttr_hours"] is None


def test_operator_sees_only_their_machines(plant):
    data = metrics.logbook_metrics(plant["operator"], 30, now=NOW)
    assert data["opened"] == 1
    assert [r["machine"].code for r in data["machines"]] == ["CNC-C"]
    assert data["downtime_hours"] == pytest.approx(2)
    assert data["open_now"] == 1
    assert data["repeat_codes"] == []


def test_buckets_grow_with_the_window():
    assert metrics.day_series(metrics.window_for(365, NOW), {}, {})["size"] == 7
    assert len(metrics.day_series(metrics.window_for(365, NOW), {}, {})["buckets"]) == 53
    assert metrics.day_series(metrics.window_for(3650, NOW), {}, {})["size"] == 30


@pytest.mark.parametrize("raw,days", [(None, 30), ("", 30), ("1", 1), ("3650", 3650),
                                      (" 90 ", 90)])
def test_parse_days(raw, days):
    assert metrics.parse_days(raw) == days


# --- the page ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["0", "3651", "-5", "abc", "7.5"])
def test_bad_days_get_a_clear_message(logged_in, raw):
    browser, _ = logged_in("production_manager")
    response = browser.get(f"/logbook/metrics?days={raw}")
    assert response.status_code == 400
    assert "Days must be a whole number from 1 to 3650" in text_of(response)


def test_page_shows_the_numbers_and_links_to_the_list(logged_in, make_machine, add_issue):
    browser, _ = logged_in("shift_manager")
    machine = make_machine(code="PAGE-1")
    now = utcnow()
    for hours in (2, 4, 6):
        add_issue(machine, now - timedelta(hours=hours + 1), status="resolved",
                  resolved_at=now - timedelta(hours=1), alarm_code="E-1042")
    db.session.commit()
    response = browser.get("/logbook/metrics?days=7")
    html = text_of(response)
    assert response.status_code == 200
    assert "Last 7 days" in html
    assert "4.0&nbsp;h" in html                     # MTTR
    assert "E-1042" in html and "PAGE-1" in html
    assert f"/logbook/?machine={machine.id}" in html
    assert "q=E-1042" in html
    assert "How these numbers are counted" in html


def test_empty_page(logged_in):
    browser, _ = logged_in("operator")
    response = browser.get("/logbook/metrics")
    assert response.status_code == 200
    assert "No issues and no downtime in the last 30 days." in text_of(response)


def test_operator_page_shows_only_their_machines(logged_in, make_machine, add_issue):
    browser, operator = logged_in("operator")
    mine = make_machine(code="MINE-1", operators=[operator])
    other = make_machine(code="OTHER-1")
    now = utcnow()
    add_issue(mine, now - timedelta(hours=3), alarm_code="AL-777")
    add_issue(mine, now - timedelta(hours=2), alarm_code="AL-777")
    add_issue(other, now - timedelta(hours=2), alarm_code="AL-999")
    add_issue(other, now - timedelta(hours=1), alarm_code="AL-999")
    db.session.commit()
    html = text_of(browser.get("/logbook/metrics"))
    assert "MINE-1" in html and "AL-777" in html
    assert "OTHER-1" not in html and "AL-999" not in html
    assert "your machines only" in html
