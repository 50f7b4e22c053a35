"""Andon calls over the API: raise (409 on a duplicate), list and open with the pages'
visibility, acknowledge and resolve by the roles of the call's escalation level."""

import pytest

from app.blueprints.andon.models import EscalationLevel
from app.core.extensions import db
from tests.api.conftest import ApiClient, log_in

URL = "/api/v1/andon/events"


@pytest.fixture
def floor(make_user, make_line, make_machine):
    operator = make_user("operator")
    line = make_line(operators=[operator])
    return {"operator": operator, "line": line,
            "machine": make_machine(code="PRESS-1", line=line),
            "other": make_machine(code="SAW-9")}


def _api_of(client, user):
    return ApiClient(client, log_in(client, user.username).json)


def _ids(response):
    assert response.status_code == 200, response.json
    return [c["id"] for c in response.json["items"]]


def test_operator_raises_a_call_with_the_kinds_usual_priority(floor, client):
    api = _api_of(client, floor["operator"])
    raised = api.post(URL, json={"machine_id": floor["machine"].id, "kind": "safety",
                                 "note": " Oil on the floor "})
    assert raised.status_code == 201, raised.json
    body = raised.json
    assert body["priority"] == "critical" and body["status"] == "open"
    assert body["note"] == "Oil on the floor" and body["has_photo"] is False
    assert body["raised_by"]["id"] == floor["operator"].id
    assert [e["kind"] for e in body["events"]] == ["raised"]
    assert raised.headers["Location"].endswith(f"{URL}/{body['id']}")
    chosen = api.post(URL, json={"machine_id": floor["machine"].id, "kind": "material",
                                 "priority": "low"})
    assert chosen.json["priority"] == "low"


def test_a_second_active_call_of_a_kind_is_409_with_the_first(floor, client):
    api = _api_of(client, floor["operator"])
    call = {"machine_id": floor["machine"].id, "kind": "stoppage"}
    first = api.post(URL, json=call).json
    again = api.post(URL, json=call)
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"
    assert again.headers["Location"].endswith(f"{URL}/{first['id']}")
    assert f"#{first['id']}" in again.json["error"]["fields"]["kind"]
    assert _ids(api.get(URL)) == [first["id"]]


@pytest.mark.parametrize("body, field", [
    ({"kind": "stoppage"}, "machine_id"),
    ({"kind": "coffee"}, "kind"),
    ({"kind": "stoppage", "priority": "now"}, "priority"),
    ({"kind": "stoppage", "note": "x" * 1001}, "note"),
])
def test_bad_calls_are_422(floor, api_as, body, field):
    api, _ = api_as("shift_manager")
    if field != "machine_id":
        body = {**body, "machine_id": floor["machine"].id}
    response = api.post(URL, json=body)
    assert response.status_code == 422 and field in response.json["error"]["fields"]


def test_who_may_raise_where(floor, client, api_as):
    operator = _api_of(client, floor["operator"])
    other = operator.post(URL, json={"machine_id": floor["other"].id, "kind": "quality"})
    assert other.status_code == 403
    viewer, _ = api_as("viewer")
    assert viewer.post(URL, json={"machine_id": floor["machine"].id,
                                  "kind": "quality"}).status_code == 403
    missing = operator.post(URL, json={"machine_id": 999999, "kind": "quality"})
    assert missing.status_code == 404


def test_list_filters_and_visibility(floor, client, api_as, make_andon_call):
    stop = make_andon_call(floor["machine"])
    material = make_andon_call(floor["machine"], kind="material")
    elsewhere = make_andon_call(floor["other"], kind="quality")
    viewer, _ = api_as("viewer")
    assert _ids(viewer.get(URL)) == [elsewhere.id, material.id, stop.id]
    assert _ids(viewer.get(f"{URL}?kind=material")) == [material.id]
    assert _ids(viewer.get(f"{URL}?line={floor['line'].id}&sort=id")) == [stop.id, material.id]
    assert _ids(viewer.get(f"{URL}?machine={floor['other'].id}")) == [elsewhere.id]
    assert _ids(viewer.get(f"{URL}?status=resolved")) == []
    assert viewer.get(f"{URL}?status=gone").status_code == 422
    operator = _api_of(client, floor["operator"])
    assert _ids(operator.get(URL)) == [material.id, stop.id]
    assert operator.get(f"{URL}/{elsewhere.id}").status_code == 403
    one = operator.get(f"{URL}/{stop.id}")
    assert one.status_code == 200 and one.json["machine"]["code"] == "PRESS-1"
    assert operator.get(f"{URL}/999999").status_code == 404


@pytest.mark.parametrize("kind, role, allowed", [
    ("stoppage", "maintenance", True),
    ("stoppage", "shift_manager", True),
    ("stoppage", "quality", False),
    ("quality", "quality", True),
    ("maintenance", "engineer", True),
    ("material", "engineer", False),
    ("material", "operator", False),
    ("material", "viewer", False),
])
def test_acknowledge_and_resolve_by_the_roles_of_the_call(floor, make_andon_call, make_user,
                                                         client, kind, role, allowed):
    call = make_andon_call(floor["machine"], kind=kind)
    user = floor["operator"] if role == "operator" else make_user(role)
    api = _api_of(client, user)
    acknowledged = api.post(f"{URL}/{call.id}/acknowledge")
    resolved = api.post(f"{URL}/{call.id}/resolve", json={"note": "Cleared the jam"})
    if not allowed:
        assert (acknowledged.status_code, resolved.status_code) == (403, 403)
        return
    assert acknowledged.status_code == 200, acknowledged.json
    assert acknowledged.json["acknowledged_by"]["id"] == user.id
    assert resolved.status_code == 200 and resolved.json["status"] == "resolved"
    assert resolved.json["resolution_note"] == "Cleared the jam"
    assert [e["kind"] for e in resolved.json["events"]] == ["raised", "acknowledged",
                                                           "resolved"]
    assert api.post(f"{URL}/{call.id}/acknowledge").status_code == 422
    assert api.post(f"{URL}/{call.id}/resolve", json={}).status_code == 422


def test_a_role_the_call_escalated_to_may_answer(floor, make_andon_call, make_user, client):
    call = make_andon_call(floor["machine"], kind="material")
    db.session.add(EscalationLevel(priority=call.priority, stage="acknowledge", level=1,
                                   after_minutes=5, roles=["engineer"]))
    call.ack_level = 1
    db.session.commit()
    api = _api_of(client, make_user("engineer"))
    assert api.post(f"{URL}/{call.id}/acknowledge").status_code == 200
