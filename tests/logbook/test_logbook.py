"""The issue logbook: reporting, the status workflow with downtime, remedies, search and
filters, CSV, QR labels and the quick report form, and who may do what."""

import csv
import io
import struct
import zlib
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.blueprints.logbook import services
from app.blueprints.logbook.models import Issue, IssueEvent, Remedy
from app.blueprints.production.models import Downtime
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from tests.helpers import redirect_path, text_of


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _reload(issue):
    db.session.expire_all()
    return db.session.get(Issue, issue.id)


def _downtimes(issue):
    db.session.expire_all()
    return db.session.scalars(select(Downtime).where(Downtime.issue_id == issue.id)
                              .order_by(Downtime.id)).all()


def _png(width=4, height=4):
    """A tiny valid PNG made here, so the test needs no image library."""
    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


@pytest.fixture
def report(make_user):
    """`report(machine, **fields)` → a committed issue reported by a maintenance user."""
    reporter = make_user("maintenance")

    def make(machine, category="mechanical", description="Spindle grinds", user=None,
             **fields):
        issue = services.report_issue(user or reporter, machine, category, description,
                                      **fields)
        db.session.commit()
        return issue
    return make


# --- reporting and the workflow ---------------------------------------------------------

def test_reporting_a_stopped_machine_starts_a_downtime(logged_in, make_machine):
    machine = make_machine(code="CNC-07")
    browser, user = logged_in("maintenance")
    response = browser.post("/logbook/new", {
        "machine_id": machine.id, "category": "hydraulic", "priority": "high",
        "description": "Oil on the floor under the press\nPressure drops", "alarm_code": "al-012",
        "title": "", "runnable": "no"})
    issue = db.session.scalar(select(Issue))
    assert redirect_path(response) == f"/logbook/issues/{issue.id}"
    assert issue.machine_id == machine.id and issue.reported_by_id == user.id
    assert issue.alarm_code == "AL-012" and issue.priority == "high" and not issue.runnable
    assert issue.title == "Hydraulic AL-012: Oil on the floor under the press"
    [downtime] = _downtimes(issue)
    assert downtime.ended_at is None and downtime.source == "issue"
    assert downtime.machine_id == machine.id
    kinds = [e.kind for e in issue.events]
    assert kinds == ["reported", "downtime"]
    page = text_of(browser.get(f"/logbook/issues/{issue.id}"))
    assert "CNC-07 is stopped" in page and "Down since" in page


def test_status_workflow_refuses_jumps_and_keeps_history(make_machine, make_user, report):
    machine = make_machine()
    worker = make_user("engineer")
    issue = report(machine, runnable=False)
    services.change_status(worker, issue, "in_progress", note="Looking at it")
    services.change_status(worker, issue, "on_hold")
    with pytest.raises(ValidationFailed) as refused:
        services.change_status(worker, issue, "closed")
    assert "cannot go straight to Closed" in str(refused.value)
    assert "In progress, Open, Resolved" not in str(refused.value)  # the workflow's order
    assert "From On hold it can go to: Open, In progress, Resolved" in str(refused.value)
    assert issue.status == "on_hold"
    with pytest.raises(ValidationFailed, match="not a status"):
        services.change_status(worker, issue, "done")
    services.change_status(worker, issue, "resolved")
    assert issue.resolved_at is not None and issue.runnable
    services.change_status(worker, issue, "closed")
    assert issue.closed_at is not None
    services.change_status(worker, issue, "in_progress")  # reopened
    assert issue.resolved_at is None and issue.closed_at is None
    db.session.commit()
    details = [e.detail for e in _reload(issue).events if e.kind == "status"]
    assert details == ["Open → In progress: Looking at it", "In progress → On hold",
                       "On hold → Resolved", "Resolved → Closed", "Closed → In progress"]
    assert all(e.actor_id == worker.id for e in issue.events if e.kind == "status")
    [downtime] = _downtimes(issue)
    assert downtime.ended_at is not None  # ended when resolved


def test_refused_status_jump_on_the_page_changes_nothing(logged_in, make_machine, report):
    issue = report(make_machine())
    browser, _ = logged_in("maintenance")
    browser.post(f"/logbook/issues/{issue.id}/status", {"status": "resolved"})
    response = browser.post(f"/logbook/issues/{issue.id}/status", {"status": "on_hold"})
    assert response.status_code == 422
    assert "cannot go straight to On hold" in text_of(response)
    assert _reload(issue).status == "resolved"


def test_closing_asks_first_then_closes(logged_in, make_machine, report):
    issue = report(make_machine())
    browser, _ = logged_in("shift_manager")
    asked = browser.post(f"/logbook/issues/{issue.id}/status", {"status": "closed"})
    assert asked.status_code == 200 and "Close issue" in text_of(asked)
    assert _reload(issue).status == "open"
    done = browser.post(f"/logbook/issues/{issue.id}/status",
                        {"status": "closed", "confirmed": "1", "note": "duplicate"})
    assert redirect_path(done) == f"/logbook/issues/{issue.id}"
    assert _reload(issue).status == "closed"
    with_htmx = report(make_machine())
    response = browser.post(f"/logbook/issues/{with_htmx.id}/status",
                            {"status": "closed", "confirmed": "1"},
                            headers={"HX-Request": "true"})
    assert response.headers["HX-Redirect"] == f"/logbook/issues/{with_htmx.id}"


def test_runnable_flag_starts_and_stops_downtime(logged_in, make_machine, report):
    issue = report(make_machine())
    assert _downtimes(issue) == []
    browser, _ = logged_in("maintenance")
    browser.post(f"/logbook/issues/{issue.id}/runnable", {"runnable": "no"})
    [running] = _downtimes(issue)
    assert running.ended_at is None and not _reload(issue).runnable
    again = browser.post(f"/logbook/issues/{issue.id}/runnable", {"runnable": "no"})
    assert again.status_code == 422 and "already marked as stopped" in text_of(again)
    browser.post(f"/logbook/issues/{issue.id}/runnable", {"runnable": "yes"})
    [ended] = _downtimes(issue)
    assert ended.ended_at is not None and _reload(issue).runnable
    assert [e.kind for e in _reload(issue).events].count("runnable") == 2


def test_remedies_compute_parts_cost_and_refuse_bad_numbers(logged_in, make_machine, report):
    issue = report(make_machine())
    browser, user = logged_in("maintenance")
    url = f"/logbook/issues/{issue.id}/remedies"
    bad = browser.post(url, {"description": "Changed belt", "minutes_spent": "lots"})
    assert bad.status_code == 422 and "Minutes spent must be a number" in text_of(bad)
    bad = browser.post(url, {"description": "Changed belt", "minutes_spent": "30",
                             "parts-0-name": "Belt", "parts-0-quantity": "-1"})
    assert bad.status_code == 422 and "Quantity of Belt must be more than 0" in text_of(bad)
    assert 'value="Changed belt"' in text_of(bad) or "Changed belt</textarea>" in text_of(bad)
    empty = browser.post(url, {"description": "  ", "minutes_spent": "5"})
    assert empty.status_code == 422
    assert _count(Remedy) == 0
    ok = browser.post(url, {"description": "Changed spindle belt", "minutes_spent": "45",
                            "parts-0-name": "Spindle belt", "parts-0-quantity": "2",
                            "parts-0-unit_cost": "42.50", "parts-1-name": "Grease",
                            "parts-1-quantity": "1", "parts-1-unit_cost": "3,25"})
    assert redirect_path(ok) == f"/logbook/issues/{issue.id}#remedies"
    remedy = db.session.scalar(select(Remedy))
    assert remedy.parts_cost == Decimal("88.25") and remedy.minutes_spent == 45
    assert remedy.performed_by_id == user.id and len(remedy.parts) == 2
    assert "Remedy added (45 min, 2 parts, cost 88.25)" in text_of(
        browser.get(f"/logbook/issues/{issue.id}"))


def test_assign_and_edit_write_history(logged_in, make_machine, make_user, report):
    machine = make_machine()
    tech = make_user("maintenance", full_name="Tess Tech")
    issue = report(machine)
    browser, _ = logged_in("engineer")
    browser.post(f"/logbook/issues/{issue.id}/assign", {"assignee_id": tech.id})
    assert _reload(issue).assigned_to_id == tech.id
    browser.post(f"/logbook/issues/{issue.id}/edit", {
        "title": "", "category": "electrical", "priority": "critical", "alarm_code": "SV0401",
        "description": "Spindle grinds"})
    issue = _reload(issue)
    assert issue.category == "electrical" and issue.title.startswith("Electrical SV0401")
    details = [e.detail for e in issue.events]
    assert "Assigned to Tess Tech" in details
    assert any("category Mechanical → Electrical" in d and "alarm code — → SV0401" in d
               for d in details)
    bad = browser.post(f"/logbook/issues/{issue.id}/edit", {
        "title": "x", "category": "plumbing", "priority": "high", "description": "x"})
    assert bad.status_code == 422 and "Choose one of the categories" in text_of(bad)
    assert _reload(issue).category == "electrical"


# --- bad input and access ---------------------------------------------------------------

@pytest.mark.parametrize("fields, message", [
    ({"description": "   "}, "Describe the problem"),
    ({"category": "plumbing"}, "Choose one of the categories"),
    ({"priority": "urgent!"}, "Choose a priority"),
    ({"category": ""}, "Choose what kind of problem it is"),
])
def test_bad_issue_input_is_explained_and_stores_nothing(logged_in, make_machine, fields,
                                                         message):
    machine = make_machine()
    browser, _ = logged_in("quality")
    data = {"machine_id": machine.id, "category": "alarm", "priority": "medium",
            "description": "Alarm on the screen", "runnable": "no", **fields}
    response = browser.post("/logbook/new", data)
    assert response.status_code == 422 and message in text_of(response)
    assert _count(Issue) == 0 and _count(Downtime) == 0


def test_operator_sees_and_reports_only_own_machines(logged_in, make_machine, make_line,
                                                     report):
    browser, operator = logged_in("operator")
    line = make_line(operators=[operator])
    mine = make_machine(code="MINE-1", line=line)
    other = make_machine(code="OTHER-1")
    my_issue = report(mine, description="my machine leaks")
    other_issue = report(other, description="someone else's machine leaks")
    listing = text_of(browser.get("/logbook/"))
    assert "my machine leaks" in listing and "someone else's" not in listing
    assert f"#{my_issue.id} " in listing and f"#{other_issue.id} " not in listing
    assert browser.get(f"/logbook/issues/{other_issue.id}").status_code == 403
    assert browser.get(f"/logbook/issues/{my_issue.id}").status_code == 200
    assert browser.get("/logbook/report/OTHER-1").status_code == 403
    form = text_of(browser.get("/logbook/new"))
    assert "MINE-1" in form and "OTHER-1" not in form
    refused = browser.post("/logbook/new", {"machine_id": other.id, "category": "other",
                                            "description": "x", "runnable": "yes"})
    assert refused.status_code == 422 and "Choose one of the machines" in text_of(refused)
    assert browser.post("/logbook/report/OTHER-1", {"category": "other", "description": "x",
                                                    "runnable": "yes"}).status_code == 403
    # An operator reports but does not move issues along, unless it is assigned to them.
    assert browser.post(f"/logbook/issues/{my_issue.id}/status",
                        {"status": "in_progress"}).status_code == 403
    csv_text = text_of(browser.get("/logbook/issues.csv"))
    assert "someone else's machine leaks" not in csv_text and "my machine leaks" in csv_text
    assert _count(Issue) == 2
    with pytest.raises(Forbidden):
        services.report_issue(operator, other, "other", "sneaky")


def test_viewers_read_but_cannot_report(logged_in, make_machine, report):
    machine = make_machine(code="VIEW-1")
    issue = report(machine)
    browser, viewer = logged_in("viewer")
    assert browser.get(f"/logbook/issues/{issue.id}").status_code == 200
    assert "Report an issue" not in text_of(browser.get("/logbook/"))
    assert browser.get("/logbook/new").status_code == 403
    assert browser.get("/logbook/report/VIEW-1").status_code == 403
    assert browser.post("/logbook/report/VIEW-1", {"category": "other", "description": "x",
                                                   "runnable": "yes"}).status_code == 403
    with pytest.raises(Forbidden):
        services.report_issue(viewer, machine, "other", "x")
    assert _count(Issue) == 1


# --- list, search, CSV --------------------------------------------------------------------

def test_filters_and_full_text_search_include_remedies(logged_in, make_machine, make_line,
                                                       make_user, report):
    line = make_line(name="Milling line")
    mill = make_machine(code="MILL-1", line=line)
    lathe = make_machine(code="LATHE-1")
    tech = make_user("maintenance")
    alarm = report(mill, category="alarm", description="Servo alarm on the screen",
                   alarm_code="SV0401", runnable=False)
    belt = report(lathe, category="mechanical", description="Squeaking noise at start")
    services.add_remedy(tech, belt, "Replaced the worn drive belt", 30)
    services.change_status(tech, belt, "resolved")
    db.session.commit()
    browser, _ = logged_in("production_manager")

    def shown(**args):
        html = text_of(browser.get("/logbook/", query_string=args))
        return {i.id for i in (alarm, belt) if f'id="issue-{i.id}-row"' in html}

    assert shown() == {alarm.id, belt.id}
    assert shown(q="SV0401") == {alarm.id}           # the alarm code
    assert shown(q="belt") == {belt.id}              # a word only in a remedy
    assert shown(q="squeaking") == {belt.id}         # stemmed on PostgreSQL, LIKE on SQLite
    assert shown(q="hydraulic pump") == set()
    assert shown(status="resolved") == {belt.id}
    assert shown(status="unresolved") == {alarm.id}
    assert shown(machine=lathe.id) == {belt.id}
    assert shown(line=line.id) == {alarm.id}
    assert shown(category="alarm") == {alarm.id}
    assert shown(runnable="no") == {alarm.id}
    assert shown(assignee="none") == {alarm.id, belt.id}
    assert shown(**{"from": "2000-01-01", "to": "2000-01-02"}) == set()
    bad_date = browser.get("/logbook/?from=yesterday")
    assert "use a date like" in text_of(bad_date)
    partial = browser.get("/logbook/?q=SV0401", headers={"HX-Request": "true"})
    assert text_of(partial).lstrip().startswith('<div id="issue-list">')
    assert "HX-Request" in partial.headers["Vary"]
    assert "No issue matches these filters" in text_of(browser.get("/logbook/?q=nothinglike"))


def test_sorting_and_pagination(app, logged_in, make_machine, report, monkeypatch):
    machine = make_machine()
    issues = [report(machine, description=f"Problem number {n}",
                     priority=("low", "critical", "medium")[n % 3]) for n in range(5)]
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    browser, _ = logged_in("engineer")
    first = text_of(browser.get("/logbook/"))
    assert "Page 1 of 3" in first and "5 in all" in first
    assert f'id="issue-{issues[-1].id}-row"' in first   # newest first
    last = text_of(browser.get("/logbook/?page=3"))
    assert f'id="issue-{issues[0].id}-row"' in last
    by_priority = text_of(browser.get("/logbook/?sort=priority&dir=desc"))
    critical = [i for i in issues if i.priority == "critical"]
    assert all(f'id="issue-{i.id}-row"' in by_priority for i in critical)
    assert "sort=priority" in by_priority and "dir=asc" in by_priority


def test_csv_export_of_the_filtered_list(logged_in, make_machine, make_user, report):
    machine = make_machine(code="CNC-09", name="Mill nine")
    tech = make_user("maintenance")
    issue = report(machine, category="alarm", description="=cmd|' /C calc'!A0",
                   alarm_code="E-1042")
    services.add_remedy(tech, issue, "Reset the drive", 20,
                        parts=[{"name": "Fuse", "quantity": 2, "unit_cost": "1.50"}])
    report(machine, category="tooling", description="Worn insert")
    db.session.commit()
    browser, _ = logged_in("shift_manager")
    response = browser.get("/logbook/issues.csv?category=alarm")
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(text_of(response))))
    assert len(rows) == 1
    row = rows[0]
    assert row["machine"] == "CNC-09" and row["alarm_code"] == "E-1042"
    assert row["category"] == "Alarm" and row["status"] == "Open"
    assert row["remedies"] == "1" and row["minutes_spent"] == "20"
    assert row["parts_cost"] == "3.00"
    assert row["description"].startswith("'=")  # no formula for the spreadsheet


# --- QR labels and the quick report --------------------------------------------------------

def test_labels_page_draws_a_qr_code_per_machine(logged_in, make_machine):
    make_machine(code="CNC-01", name="Mill one")
    make_machine(code="CNC-02", name="Mill two")
    browser, _ = logged_in("production_manager")
    response = browser.get("/logbook/labels")
    html = text_of(response)
    assert response.status_code == 200
    assert html.count('<svg viewBox="0 0') == 2 and 'class="qr"' in html
    assert "CNC-01" in html and "Mill two" in html
    url = "http://localhost/logbook/report/CNC-02"  # the test client's own host
    assert url in html
    from app.blueprints.logbook.labels import qr_svg
    assert str(qr_svg(url, title="Report an issue on CNC-02")) in html
    browser.logout()
    engineer_browser, _ = logged_in("engineer")
    assert engineer_browser.get("/logbook/labels").status_code == 403


def test_qr_encodes_the_absolute_report_url(app):
    from app.blueprints.logbook import labels
    from app.blueprints.machines.models import Machine

    machine = Machine(code="CNC-07")
    with app.test_request_context("/logbook/labels", base_url="http://floor.example:8000"):
        url = labels.report_url(machine)
    assert url == "http://floor.example:8000/logbook/report/CNC-07"  # loopback default skipped
    with app.test_request_context("/"):
        app.config["PUBLIC_BASE_URL"], old = "https://floorline.plant", \
            app.config["PUBLIC_BASE_URL"]
        try:
            assert labels.report_url(machine) == "https://floorline.plant/logbook/report/CNC-07"
        finally:
            app.config["PUBLIC_BASE_URL"] = old


def test_quick_report_after_login_creates_the_issue(browser, make_user, make_machine,
                                                    make_line):
    operator = make_user("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="CNC-07", line=line)
    to_login = browser.get("/logbook/report/cnc-07")
    assert to_login.status_code == 302 and "/auth/login" in to_login.headers["Location"]
    back = browser.post("/auth/login?next=/logbook/report/cnc-07",
                        {"username": operator.username, "password": "correct horse battery",
                         "next": "/logbook/report/cnc-07"})
    assert redirect_path(back) == "/logbook/report/cnc-07"
    form = text_of(browser.get("/logbook/report/cnc-07"))
    assert 'capture="environment"' in form and 'type="radio"' in form and "CNC-07" in form
    missing = browser.post("/logbook/report/CNC-07", {"category": "tooling",
                                                      "description": "Insert broke"})
    assert missing.status_code == 422 and "Say whether the machine can run" in text_of(missing)
    assert "Insert broke" in text_of(missing)
    assert _count(Issue) == 0
    done = browser.post("/logbook/report/CNC-07", {"category": "tooling",
                                                   "description": "Insert broke",
                                                   "runnable": "no"})
    issue = db.session.scalar(select(Issue))
    assert redirect_path(done) == f"/logbook/issues/{issue.id}"
    assert issue.machine_id == machine.id and issue.source == "quick"
    assert issue.reported_by_id == operator.id and issue.category == "tooling"
    assert _downtimes(issue)[0].ended_at is None
    assert browser.get("/logbook/report/NOPE-9").status_code == 404


def test_quick_report_with_a_photo(logged_in, make_machine):
    make_machine(code="CNC-08")
    browser, _ = logged_in("maintenance")
    response = browser.client.post("/logbook/report/CNC-08", data={
        "csrf_token": browser.token(), "category": "alarm", "runnable": "yes",
        "description": "Alarm screen", "photo": (io.BytesIO(_png()), "alarm.png")},
        content_type="multipart/form-data")
    issue = db.session.scalar(select(Issue))
    assert response.status_code == 302, text_of(response)[:2000]
    assert [a.original_name for a in _reload(issue).attachments] == ["alarm.png"]
    disguised = browser.client.post("/logbook/report/CNC-08", data={
        "csrf_token": browser.token(), "category": "alarm", "runnable": "yes",
        "description": "Second one", "photo": (io.BytesIO(b"MZ\x90\x00" * 64), "x.png")},
        content_type="multipart/form-data")
    assert disguised.status_code == 422 and "Second one" in text_of(disguised)
    assert _count(Issue) == 1


def test_issue_page_for_worker_shows_one_tap_actions(logged_in, make_machine, report):
    issue = report(make_machine())
    browser, _ = logged_in("maintenance")
    html = text_of(browser.get(f"/logbook/issues/{issue.id}"))
    for label in ("Start work", "Put on hold", "Mark resolved", "Close issue",
                  "Add a remedy", "History", "Assign to me"):
        assert label in html
    assert "hx-confirm" in html
    assert _count(IssueEvent, IssueEvent.issue_id == issue.id) == 1
