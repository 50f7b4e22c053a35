"""Alerts over the API: the page's filters and visibility, history, acknowledge, comment,
close."""

from datetime import UTC, datetime

import pytest

from app.blueprints.alerts.models import Alert
from app.core.extensions import db
from tests.api.conftest import ApiClient, log_in

URL = "/api/v1/alerts"
DAY1 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
DAY2 = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def plant(make_line, make_machine, make_alert_rule, make_alert, make_user):
    """Two lines' machines with an alert each: operator sees line 1's only."""
    operator = make_user("operator")
    line1, line2 = make_line(operators=[operator]), make_line()
    mine, other = make_machine(code="M-1", line=line1), make_machine(code="M-2", line=line2)
    hot = make_alert(make_alert_rule(machine=mine), severity="critical", raised_at=DAY1)
    far = make_alert(make_alert_rule(machine=other, name="Other"), raised_at=DAY2)
    return {"operator": operator, "line1": line1, "mine": mine, "other": other,
            "hot": hot, "far": far}


def _api_of(client, user):
    return ApiClient(client, log_in(client, user.username).json)


def _ids(response):
    assert response.status_code == 200, response.json
    return [a["id"] for a in response.json["items"]]


def test_list_filters_and_sorts_as_the_page(plant, api_as):
    api, _ = api_as("shift_manager")
    hot, far = plant["hot"].id, plant["far"].id
    assert _ids(api.get(URL)) == [far, hot]  # newest first
    assert _ids(api.get(f"{URL}?sort=raised_at")) == [hot, far]
    assert _ids(api.get(f"{URL}?severity=critical")) == [hot]
    assert _ids(api.get(f"{URL}?line={plant['line1'].id}")) == [hot]
    assert _ids(api.get(f"{URL}?machine={plant['other'].id}")) == [far]
    assert _ids(api.get(f"{URL}?from=2026-11-03&to=2026-11-05")) == [far]
    assert _ids(api.get(f"{URL}?state=closed")) == []
    item = api.get(f"{URL}?severity=critical").json["items"][0]
    assert item["machine"]["code"] == "M-1" and item["rule"]["name"] == "Overheating"
    assert item["raised_at"] == "2026-11-02T08:00:00+00:00" and item["is_open"] is True


def test_bad_filters_are_422(api_as):
    api, _ = api_as("admin")
    for query, field in (("state=gone", "state"), ("from=2026-11-05&to=2026-11-01", "from"),
                         ("sort=colour", "sort")):
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 422 and field in response.json["error"]["fields"]


def test_an_operator_sees_only_its_machines_alerts(plant, client, make_user):
    api = _api_of(client, plant["operator"])
    assert _ids(api.get(URL)) == [plant["hot"].id]
    assert api.get(f"{URL}/{plant['hot'].id}").status_code == 200
    for response in (api.get(f"{URL}/{plant['far'].id}"),
                     api.post(f"{URL}/{plant['far'].id}/acknowledge")):
        assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


@pytest.mark.parametrize("role", ["engineer", "maintenance", "quality", "viewer"])
def test_plant_wide_roles_do_not_see_alerts(plant, api_as, role):
    api, _ = api_as(role)
    assert api.get(URL).status_code == 403
    assert api.get(f"{URL}/{plant['hot'].id}").status_code == 403


def test_acknowledge_once_and_the_history_says_who(plant, client):
    api = _api_of(client, plant["operator"])
    url = f"{URL}/{plant['hot'].id}"
    done = api.post(f"{url}/acknowledge")
    assert done.status_code == 200, done.json
    assert done.json["acknowledged_by"]["id"] == plant["operator"].id
    assert [e["kind"] for e in done.json["events"]] == ["acknowledged"]
    assert done.json["events"][0]["actor"]["id"] == plant["operator"].id
    again = api.post(f"{url}/acknowledge")
    assert again.status_code == 422 and "acknowledged this alert already" in \
        again.json["error"]["message"]


def test_comments_go_into_the_history(plant, api_as):
    api, _ = api_as("production_manager")
    url = f"{URL}/{plant['hot'].id}"
    added = api.post(f"{url}/comments", json={"text": "  Coolant topped up "})
    assert added.status_code == 201 and added.headers["Location"].endswith(url)
    assert added.json["events"][-1]["detail"] == "Coolant topped up"
    empty = api.post(f"{url}/comments", json={"text": "   "})
    assert empty.status_code == 422
    assert empty.json["error"]["fields"] == {"text": "Write a comment first."}
    missing = api.post(f"{url}/comments", json={})
    assert missing.status_code == 422 and "text" in missing.json["error"]["fields"]
    etag = api.get(url).headers["ETag"]
    assert api.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_only_managers_close_and_only_once(plant, api_as, client):
    operator = _api_of(client, plant["operator"])
    url = f"{URL}/{plant['hot'].id}"
    assert operator.post(f"{url}/close", json={}).status_code == 403
    api, manager = api_as("shift_manager")
    closed = api.post(f"{url}/close", json={"note": "Fan replaced"})
    assert closed.status_code == 200, closed.json
    body = closed.json
    assert body["is_open"] is False and body["close_note"] == "Fan replaced"
    assert body["closed_by"]["id"] == manager.id and body["acknowledged_by"]["id"] == manager.id
    assert api.post(f"{url}/close", json={}).status_code == 422
    assert api.post(f"{url}/acknowledge").status_code == 422
    db.session.expire_all()
    assert db.session.get(Alert, plant["hot"].id).closed_at is not None


def test_unknown_alert_is_404(api_as):
    api, _ = api_as("admin")
    for url in (f"{URL}/999999", f"{URL}/99999999999", f"{URL}/999999/acknowledge"):
        method = api.post if url.endswith("acknowledge") else api.get
        response = method(url)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"
