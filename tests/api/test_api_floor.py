"""The floor-dashboard seed's extras: faults and maintenance by machine code, the dashboard's
summary, lines, line status, and the logbook metrics."""

from datetime import UTC, datetime

from app.blueprints.tasks.models import Task
from app.blueprints.telemetry.ingest import ingest
from app.core.extensions import db


def _report(machine, temperature=20):
    ingest([{"ts": datetime.now(UTC).isoformat(), "values": {"temperature": temperature}}],
           "webhook", machine=machine)
    db.session.commit()


def test_faults_are_open_alerts_issues_and_andon_calls(api_as, make_machine, make_issue,
                                                       make_alert_rule, make_alert,
                                                       make_andon_call):
    machine = make_machine(code="CNC-7")
    open_issue = make_issue(machine=machine, title="Coolant leak")
    make_issue(machine=machine, title="Old one", status="resolved")
    alert = make_alert(make_alert_rule(machine=machine))
    make_alert(make_alert_rule(machine=machine, name="Closed"),
               closed_at=datetime.now(UTC))
    call = make_andon_call(machine)
    make_issue(title="Elsewhere")
    api, _ = api_as("production_manager")
    body = api.get("/api/v1/equipment/cnc-7/faults").json
    assert body["machine"]["code"] == "CNC-7"
    assert [i["id"] for i in body["issues"]] == [open_issue.id]
    assert [a["id"] for a in body["alerts"]] == [alert.id]
    assert [c["id"] for c in body["andon_events"]] == [call.id]
    viewer, _ = api_as("viewer")
    assert viewer.get("/api/v1/equipment/CNC-7/faults").json["alerts"] is None
    assert api.get("/api/v1/equipment/NOPE/faults").status_code == 404


def test_an_operator_gets_faults_of_its_machines_only(api_as, make_machine):
    api, operator = api_as("operator")
    make_machine(code="MINE", operators=[operator])
    make_machine(code="OTHER")
    assert api.get("/api/v1/equipment/MINE/faults").status_code == 200
    assert api.get("/api/v1/equipment/OTHER/faults").status_code == 403


def test_maintenance_by_code_makes_a_task(api_as, make_machine, make_user):
    machine = make_machine(code="PRESS-1")
    api, engineer = api_as("engineer")
    fitter = make_user("maintenance")
    response = api.post("/api/v1/equipment/press-1/maintenance",
                        json={"title": "Replace seals", "priority": "high",
                              "assignee_ids": [fitter.id]})
    assert response.status_code == 201, response.json
    task = db.session.get(Task, response.json["id"])
    assert task.machine_id == machine.id and task.created_by_id == engineer.id
    assert [u.id for u in task.assignees] == [fitter.id] and task.priority == "high"
    assert response.headers["Location"].endswith(f"/api/v1/tasks/{task.id}")
    empty = api.post("/api/v1/equipment/PRESS-1/maintenance", json={"title": " "})
    assert empty.status_code == 422 and "title" in empty.json["error"]["fields"]
    operator, _ = api_as("operator")
    assert operator.post("/api/v1/equipment/PRESS-1/maintenance",
                         json={"title": "x"}).status_code == 403


def test_summary_counts_the_plant(api_as, make_machine, make_line, make_issue, make_task,
                                  make_andon_call):
    line = make_line(code="L1", name="Line one")
    reporting = make_machine(line=line)
    _report(reporting)
    idle = make_machine(line=line, status="maintenance")
    make_issue(machine=idle)
    make_task(idle)
    make_andon_call(reporting)
    make_line(code="L2", name="Line two")
    api, _ = api_as("shift_manager")
    body = api.get("/api/v1/dashboard/summary").json
    assert body["machines"] == 2
    assert body["by_status"] == {"active": 1, "maintenance": 1}
    assert body["by_connectivity"]["reporting"] == 1 and body["by_connectivity"]["none"] == 1
    assert (body["active_andon_events"], body["open_issues"], body["open_tasks"]) == (1, 1, 1)
    assert body["open_alerts"] == 0 and body["lines"] == {"andon": 1, "empty": 1}
    assert body["people"]["shift_manager"] >= 1


def test_an_operator_sees_only_its_machines_on_the_dashboard(api_as, make_machine, make_line,
                                                             make_andon_call):
    api, operator = api_as("operator")
    mine_line, other_line = make_line(code="M1"), make_line(code="O1")
    mine = make_machine(line=mine_line, operators=[operator])
    other = make_machine(line=other_line)
    make_machine(line=mine_line)  # on its line, not assigned to it
    make_andon_call(other)
    summary = api.get("/api/v1/dashboard/summary").json
    assert summary["machines"] == 1 and summary["active_andon_events"] == 0
    assert summary["people"] is None and summary["lines"] == {"running": 1}
    lines = api.get("/api/v1/dashboard/lines").json
    assert [ln["code"] for ln in lines["items"]] == ["M1"]
    assert lines["items"][0]["counts"]["machines"] == 1
    status = api.get(f"/api/v1/dashboard/lines/{mine_line.id}/status").json
    assert [m["id"] for m in status["machines"]] == [mine.id]
    assert api.get(f"/api/v1/dashboard/lines/{other_line.id}/status").status_code == 403


def test_line_status_and_states(api_as, make_machine, make_line, make_andon_call,
                                make_alert_rule, make_alert):
    calm, hot, stopped = make_line(code="A"), make_line(code="B"), make_line(code="C")
    for line in (calm, hot, stopped):
        _report(make_machine(line=line))
    make_alert(make_alert_rule(machine=hot.machines[0]))
    call = make_andon_call(stopped.machines[0])
    make_machine()  # on no line
    api, _ = api_as("admin")
    listed = api.get("/api/v1/dashboard/lines").json
    assert {ln["code"]: ln["state"] for ln in listed["items"]} == \
        {"A": "running", "B": "attention", "C": "andon"}
    assert listed["unassigned"]["machines"] == 1
    status = api.get(f"/api/v1/dashboard/lines/{stopped.id}/status").json
    assert status["state"] == "andon" and [c["id"] for c in status["andon_events"]] == [call.id]
    assert status["machines"][0]["connectivity"] == "reporting"
    assert api.get("/api/v1/dashboard/lines/999999/status").status_code == 404


def test_metrics_over_days(api_as, make_machine, make_issue):
    machine = make_machine(code="M-1")
    make_issue(machine=machine, alarm_code="E42")
    make_issue(machine=machine, alarm_code="e42 ")
    api, _ = api_as("quality")
    body = api.get("/api/v1/dashboard/metrics?days=7").json
    assert body["days"] == 7 and body["opened"] == 2 and body["open_now"] == 2
    assert body["bucket_days"] == 1 and len(body["series"]) == 7
    assert body["repeat_codes"][0]["code"] == "E42" and body["repeat_codes"][0]["count"] == 2
    assert body["top_machines"][0]["machine"]["code"] == "M-1"
    assert api.get("/api/v1/dashboard/metrics").json["days"] == 30
    bad = api.get("/api/v1/dashboard/metrics?days=0")
    assert bad.status_code == 422 and "days" in bad.json["error"]["fields"]
