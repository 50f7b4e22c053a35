"""Maintenance tasks over the API: list, get, create, edit (If-Match), the status workflow."""

from app.blueprints.tasks import services
from app.core.extensions import db

URL = "/api/v1/tasks"


def _task(machine, title="Grease the spindle", **kwargs):
    task = services.create_task(machine, title, **kwargs)
    db.session.commit()
    return task


def _titles(response):
    return [t["title"] for t in response.json["items"]]


def test_create_then_read_it_back(api_as, make_machine, make_user):
    machine = make_machine(code="CNC-T1")
    fitter = make_user("maintenance")
    api, manager = api_as("shift_manager")
    response = api.post(URL, json={"machine_id": machine.id, "title": "  Check   belts ",
                                   "priority": "high", "assignee_ids": [fitter.id]})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["title"] == "Check belts" and body["status"] == "not_started"
    assert body["machine"]["code"] == "CNC-T1" and body["created_by"]["id"] == manager.id
    assert [p["id"] for p in body["assignees"]] == [fitter.id]
    assert body["next_statuses"] == ["in_progress"] and body["events"][0]["kind"] == "created"
    assert body["due_at"].endswith("+00:00")
    again = api.get(response.headers["Location"])
    assert again.status_code == 200 and again.json["id"] == body["id"]


def test_list_filters_and_operator_visibility(api_as, make_machine, make_line):
    api, operator = api_as("operator")
    mine = make_machine(code="MINE", line=make_line(operators=[operator]))
    other = make_machine(code="OTHER")
    _task(mine, "Mine low", priority="low", assignees=[])
    _task(mine, "Mine high", priority="high", assignees=[operator])
    hidden = _task(other, "Not mine")
    assert sorted(_titles(api.get(URL))) == ["Mine high", "Mine low"]
    assert _titles(api.get(f"{URL}?priority=high")) == ["Mine high"]
    assert _titles(api.get(f"{URL}?assignee=me")) == ["Mine high"]
    assert api.get(f"{URL}?status=open&machine={mine.id}").json["total"] == 2
    assert api.get(f"{URL}/{hidden.id}").status_code == 403
    assert api.get(f"{URL}?status=nonsense").status_code == 422


def test_the_one_tap_workflow_and_who_may(api_as, make_machine, make_user):
    machine = make_machine()
    api, fitter = api_as("maintenance")
    task = _task(machine, assignees=[fitter])
    status = f"{URL}/{task.id}/status"
    jump = api.post(status, json={"status": "finished"})
    assert jump.status_code == 422 and "status" in jump.json["error"]["fields"]
    started = api.post(status, json={"status": "in_progress"})
    assert started.status_code == 200 and started.json["started_at"] is not None
    other, _ = api_as("maintenance")
    refused = other.post(status, json={"status": "finished"})
    assert refused.status_code == 403 and refused.json["error"]["code"] == "forbidden"
    assert api.post(status, json={"status": "finished"}).json["status"] == "finished"


def test_update_needs_a_fresh_etag(api_as, make_machine):
    task = _task(make_machine())
    api, _ = api_as("engineer")
    url = f"{URL}/{task.id}"
    etag = api.get(url).headers["ETag"]
    assert api.patch(url, json={"title": "New"}).status_code == 428
    changed = api.patch(url, json={"title": "New", "priority": "critical"},
                        headers={"If-Match": etag})
    assert changed.status_code == 200, changed.json
    assert changed.json["title"] == "New" and changed.json["priority"] == "critical"
    stale = api.patch(url, json={"title": "Newer"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    etag = changed.headers["ETag"]
    empty = api.patch(url, json={"title": "  "}, headers={"If-Match": etag})
    assert empty.status_code == 422 and "title" in empty.json["error"]["fields"]


def test_creators_only_and_missing_things(api_as, make_machine):
    machine = make_machine()
    operator, _ = api_as("operator")
    assert operator.post(URL, json={"machine_id": machine.id, "title": "x"}).status_code == 403
    api, _ = api_as("production_manager")
    assert api.get(f"{URL}/999999").status_code == 404
    missing = api.post(URL, json={"machine_id": 999_999, "title": "x"})
    assert missing.status_code == 422 and "machine_id" in missing.json["error"]["fields"]
    nobody = api.post(URL, json={"machine_id": machine.id, "title": "x",
                                 "assignee_ids": [999_999]})
    assert nobody.status_code == 422 and "assignee_ids" in nobody.json["error"]["fields"]
