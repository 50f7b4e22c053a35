"""Maintenance plans and remedies over the API, as their pages allow."""

from app.blueprints.logbook import services as logbook
from app.blueprints.tasks.models import MaintenancePlan
from app.core.extensions import db

URL = "/api/v1/maintenance-plans"


def _etag(api, url):
    return {"If-Match": api.get(url).headers["ETag"]}


def test_a_manager_sets_up_changes_and_switches_a_plan(api_as, make_machine):
    machine = make_machine(code="LATHE-1")
    api, manager = api_as("production_manager")
    made = api.post(URL, json={"machine_id": machine.id, "title": "Grease the ways",
                               "every_days": 14, "priority": "high"})
    assert made.status_code == 201, made.json
    plan = made.json
    assert plan["machine"]["code"] == "LATHE-1" and plan["active"] and plan["days_to_finish"] == 3
    assert plan["meters"][0]["label"] == "days" and plan["meters"][0]["limit"] == 14
    assert plan["next_due_at"] and plan["created_by"]["id"] == manager.id
    url = made.headers["Location"]
    # The meters move with the clock; the ETag covers only what people change.
    assert api.get(url).headers["ETag"] == api.get(url).headers["ETag"] == made.headers["ETag"]
    changed = api.patch(url, json={"every_days": 7}, headers=_etag(api, url))
    assert changed.status_code == 200 and changed.json["every_days"] == 7
    off = api.post(f"{url}/deactivate")
    assert off.status_code == 200 and off.json["active"] is False
    assert [p["id"] for p in api.get(f"{URL}?active=false").json["items"]] == [plan["id"]]
    assert api.get(f"{URL}?active=true").json["items"] == []
    assert api.post(f"{url}/reactivate").json["active"] is True


def test_a_plan_needs_an_interval_the_machine_can_count(api_as, make_machine):
    machine = make_machine()
    api, _ = api_as("admin")
    none = api.post(URL, json={"machine_id": machine.id, "title": "Service"})
    assert none.status_code == 422 and "every_days" in none.json["error"]["fields"]
    hours = api.post(URL, json={"machine_id": machine.id, "title": "Service",
                                "every_running_hours": 100})
    assert hours.status_code == 422
    assert "running" in hours.json["error"]["fields"]["every_running_hours"]
    missing = api.post(URL, json={"machine_id": 999999, "title": "S", "every_days": 1})
    assert missing.status_code == 422 and "machine_id" in missing.json["error"]["fields"]
    assert db.session.query(MaintenancePlan).count() == 0


def test_plans_are_read_by_the_plant_and_set_up_by_managers(api_as, make_machine, make_plan):
    plan = make_plan(make_machine(), days=30)
    engineer, _ = api_as("engineer")
    assert engineer.get(f"{URL}/{plan.id}").status_code == 200
    assert engineer.post(f"{URL}/{plan.id}/deactivate").status_code == 403
    operator, _ = api_as("operator")
    assert operator.get(URL).status_code == 403


def test_remedies_follow_their_issues_visibility(api_as, make_machine, make_issue, make_user):
    api, operator = api_as("operator")
    mine, other = make_machine(operators=[operator]), make_machine()
    fitter = make_user("maintenance")
    my_issue, their_issue = make_issue(machine=mine), make_issue(machine=other)
    fixed = logbook.add_remedy(fitter, my_issue, "Replaced the belt", 30,
                               [{"name": "Belt", "quantity": 1, "unit_cost": 12.5}])
    hidden = logbook.add_remedy(fitter, their_issue, "Tightened", 5)
    db.session.commit()
    body = api.get("/api/v1/remedies").json
    assert [r["id"] for r in body["items"]] == [fixed.id]
    item = body["items"][0]
    assert item["issue_id"] == my_issue.id and item["machine"]["id"] == mine.id
    assert item["parts_cost"] == "12.50" and item["performed_by"]["id"] == fitter.id
    assert api.get(f"/api/v1/remedies/{hidden.id}").status_code == 403
    manager, _ = api_as("shift_manager")
    assert manager.get(f"/api/v1/remedies?issue={their_issue.id}").json["total"] == 1
    assert manager.get(f"/api/v1/remedies?machine={mine.id}").json["total"] == 1
    assert manager.get("/api/v1/remedies/999999").status_code == 404
