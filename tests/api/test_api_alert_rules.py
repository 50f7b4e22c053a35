"""Alert rules over the API: managers change them through the rules service, whose
messages come back as 422 fields; operators read them, as on the rules page."""

import pytest
from sqlalchemy import select

from app.blueprints.alerts.models import AlertRule
from app.core.extensions import db

URL = "/api/v1/alert-rules"


def _rule(machine_type, **overrides):
    return {"name": "Hot", "machine_type_id": machine_type.id, "metric_key": "temperature",
            "condition": ">", "threshold": 70, **overrides}


def test_manager_creates_reads_and_lists_rules(api_as, make_machine_type):
    cnc = make_machine_type("CNC")
    api, manager = api_as("shift_manager")
    created = api.post(URL, json=_rule(cnc, sustained_seconds=20, severity="critical"))
    assert created.status_code == 201, created.json
    body = created.json
    assert body["threshold"] == 70 and body["machine_type"] == {"id": cnc.id, "name": "CNC"}
    assert body["description"] == "temperature > 70 for 20 s" and body["enabled"] is True
    assert created.headers["Location"].endswith(f"{URL}/{body['id']}")
    assert db.session.get(AlertRule, body["id"]).created_by_id == manager.id
    api.post(URL, json=_rule(cnc, name="Off", enabled=False))
    api.post(URL, json=_rule(cnc, name="Alpha"))
    names = [r["name"] for r in api.get(URL).json["items"]]
    assert names == ["Alpha", "Hot", "Off"]  # the page's order: enabled first, by name
    assert [r["name"] for r in api.get(f"{URL}?sort=-name").json["items"]] == \
        ["Off", "Hot", "Alpha"]


@pytest.mark.parametrize("overrides, field, message", [
    ({"metric_key": "pressure"}, "metric_key", "has no metric “pressure”"),
    ({"threshold": "hot"}, "threshold", "is a number: give a number"),
    ({"threshold": None}, "threshold", "Give a threshold"),
    ({"message_template": "{machine} is {colour}"}, "message_template",
     "Unknown placeholder {colour}"),
    ({"kind": "battery"}, "machine_type_id", "no metric with the battery role"),
    ({"kind": "offline"}, "offline_intervals", "at least 1 poll interval"),
    ({"machine_type_id": None}, "machine_type_id", "needs a machine type or one machine"),
    ({"machine_type_id": 424242}, "machine_type_id", "Nothing with id 424242"),
    ({"sustained_seconds": -5}, "sustained_seconds", "Between 0 and 86400"),
    ({"threshold": [70]}, "threshold", "Give a number, true/false or a text"),
])
def test_bad_rules_are_422_with_the_pages_messages(api_as, make_machine_type, overrides,
                                                    field, message):
    cnc = make_machine_type("CNC")
    api, _ = api_as("admin")
    response = api.post(URL, json=_rule(cnc, **overrides))
    assert response.status_code == 422, response.json
    assert message.lower() in response.json["error"]["fields"][field].lower()
    assert db.session.scalar(select(AlertRule)) is None


def test_update_needs_the_etag_and_keeps_other_fields(api_as, make_machine_type,
                                                      make_alert_rule):
    rule = make_alert_rule(machine_type=make_machine_type("CNC"), threshold="2.5")
    api, _ = api_as("production_manager")
    url = f"{URL}/{rule.id}"
    etag = api.get(url).headers["ETag"]
    assert api.patch(url, json={"enabled": False}).status_code == 428
    updated = api.patch(url, json={"enabled": False}, headers={"If-Match": etag})
    assert updated.status_code == 200, updated.json
    assert updated.json["enabled"] is False and updated.json["threshold"] == 2.5
    assert api.patch(url, json={"name": "X"}, headers={"If-Match": etag}).status_code == 412
    bad = api.patch(url, json={"condition": "about"},
                    headers={"If-Match": updated.headers["ETag"]})
    assert bad.status_code == 422
    assert bad.json["error"]["fields"] == {"condition": "Choose a condition from the list."}


def test_a_rule_with_alerts_is_not_deleted(api_as, make_machine, make_alert_rule, make_alert):
    machine = make_machine()
    used, unused = make_alert_rule(machine=machine), make_alert_rule(machine=machine)
    make_alert(used)
    used_id, unused_id = used.id, unused.id
    api, _ = api_as("admin")
    for rule, status in ((used, 422), (unused, 204)):
        url = f"{URL}/{rule.id}"
        etag = api.get(url).headers["ETag"]
        assert api.delete(url, headers={"If-Match": etag}).status_code == status
    db.session.expire_all()
    assert db.session.get(AlertRule, used_id) is not None
    assert db.session.get(AlertRule, unused_id) is None


def test_operators_read_rules_but_do_not_change_them(api_as, make_alert_rule,
                                                    make_machine_type):
    rule = make_alert_rule(machine_type=make_machine_type())
    api, _ = api_as("operator")
    assert api.get(URL).json["total"] == 1
    assert api.get(f"{URL}/{rule.id}").status_code == 200
    assert api.post(URL, json={"name": "X"}).status_code == 403
    viewer, _ = api_as("viewer")
    assert viewer.get(URL).status_code == 403
    assert api.get(f"{URL}/999999").status_code == 404
