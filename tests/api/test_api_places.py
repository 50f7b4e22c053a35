"""Departments, lines (also /production/lines) and machine types with metrics over the API."""

import pytest

from app.blueprints.machines.models import Department, Line, MachineType
from app.core.extensions import db


def _etag(api, url):
    return {"If-Match": api.get(url).headers["ETag"]}


def test_departments_list_create_update_delete(api_as, make_machine):
    api, _ = api_as("production_manager")
    made = api.post("/api/v1/departments", json={"code": "asm", "name": "Assembly"})
    assert made.status_code == 201 and made.json["code"] == "ASM"
    url = made.headers["Location"]
    api.post("/api/v1/departments", json={"code": "PNT", "name": "Paint shop"})
    names = [d["name"] for d in api.get("/api/v1/departments?sort=-name").json["items"]]
    assert names == ["Paint shop", "Assembly"]
    assert [d["code"] for d in api.get("/api/v1/departments?q=paint").json["items"]] == ["PNT"]
    twice = api.post("/api/v1/departments", json={"code": "ASM", "name": "Other"})
    assert twice.status_code == 422 and "already used" in twice.json["error"]["fields"]["code"]
    renamed = api.patch(url, json={"name": "Final assembly"}, headers=_etag(api, url))
    assert renamed.status_code == 200 and renamed.json["code"] == "ASM"
    department = db.session.get(Department, made.json["id"])
    machine = make_machine(department=department)
    busy = api.delete(url, headers=_etag(api, url))
    assert busy.status_code == 409 and busy.json["error"]["code"] == "conflict"
    assert "1 machine belong to Final assembly" in busy.json["error"]["message"]
    db.session.delete(machine)
    db.session.commit()
    assert api.delete(url, headers=_etag(api, url)).status_code == 204
    assert api.get(url).status_code == 404


@pytest.mark.parametrize("base", ["/api/v1/lines", "/api/v1/production/lines"])
def test_lines_with_department_and_operators(api_as, make_user, make_machine, base):
    api, _ = api_as("shift_manager")
    department = api.post("/api/v1/departments", json={"code": "D1", "name": "Body"}).json
    operator, engineer = make_user("operator"), make_user("engineer")
    made = api.post(base, json={"code": "L1", "name": "Line one",
                                "department_id": department["id"],
                                "operator_ids": [operator.id]})
    assert made.status_code == 201, made.json
    assert made.json["department"]["id"] == department["id"]
    assert made.json["operator_ids"] == [operator.id]
    url = f"{base}/{made.json['id']}"
    wrong = api.patch(url, json={"operator_ids": [engineer.id]}, headers=_etag(api, url))
    assert wrong.status_code == 422 and "operator_ids" in wrong.json["error"]["fields"]
    missing = api.patch(url, json={"department_id": 999999}, headers=_etag(api, url))
    assert missing.status_code == 422 and "department_id" in missing.json["error"]["fields"]
    listed = api.get(f"{base}?department={department['id']}").json
    assert [ln["code"] for ln in listed["items"]] == ["L1"]
    busy = api.delete(url, headers=_etag(api, url))
    assert busy.status_code == 409 and "1 operator" in busy.json["error"]["message"]
    cleared = api.patch(url, json={"operator_ids": []}, headers=_etag(api, url))
    assert cleared.status_code == 200 and cleared.json["operator_ids"] == []
    line = db.session.get(Line, made.json["id"])
    make_machine(line=line)
    assert api.delete(url, headers=_etag(api, url)).status_code == 409


def test_production_lines_take_put(api_as, make_line):
    line = make_line(code="L9", name="Nine")
    api, _ = api_as("admin")
    url = f"/api/v1/production/lines/{line.id}"
    response = api.put(url, json={"name": "Line nine"}, headers=_etag(api, url))
    assert response.status_code == 200 and response.json["name"] == "Line nine"
    assert api.put(url, json={"name": "x"}).status_code == 428


def test_operators_do_not_read_places(api_as):
    api, _ = api_as("operator")
    for url in ("/api/v1/departments", "/api/v1/lines", "/api/v1/machine-types"):
        assert api.get(url).status_code == 403


def test_machine_types_and_their_metrics(api_as, make_machine):
    api, _ = api_as("production_manager")
    made = api.post("/api/v1/machine-types", json={"name": "Press", "description": "Hydraulic"})
    assert made.status_code == 201 and made.json["metrics"] == []
    url = made.headers["Location"]
    metrics = f"{url}/metrics"
    added = api.post(metrics, json={"key": "pressure", "label": "Pressure", "unit": "bar",
                                    "normal_min": 10, "normal_max": 200})
    assert added.status_code == 201, added.json
    [metric] = added.json["metrics"]
    assert (metric["key"], metric["kind"], metric["normal_max"]) == ("pressure", "number", 200)
    bad = api.post(metrics, json={"key": "Bad Key"})
    assert bad.status_code == 422 and "key" in bad.json["error"]["fields"]
    role = api.post(metrics, json={"key": "run", "kind": "text", "role": "running"})
    assert role.status_code == 422 and "role" in role.json["error"]["fields"]
    metric_url = f"{metrics}/{metric['id']}"
    changed = api.patch(metric_url, json={"normal_max": 250}, headers=_etag(api, url))
    assert changed.status_code == 200 and changed.json["metrics"][0]["normal_max"] == 250
    inverted = api.patch(metric_url, json={"normal_min": 300}, headers=_etag(api, url))
    assert inverted.status_code == 422
    assert api.delete(metric_url, headers=_etag(api, url)).status_code == 204
    assert api.get(url).json["metrics"] == []
    assert api.delete(f"{metrics}/999999", headers=_etag(api, url)).status_code == 404
    machine_type = db.session.get(MachineType, made.json["id"])
    make_machine(machine_type=machine_type)
    busy = api.delete(url, headers=_etag(api, url))
    assert busy.status_code == 409 and "move them to another type" in \
        busy.json["error"]["message"]
    listed = api.get("/api/v1/machine-types?q=pre").json["items"]
    assert [t["name"] for t in listed] == ["Press"]
