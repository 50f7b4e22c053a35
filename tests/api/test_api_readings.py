"""Readings over the API (also as /data): list by machine and time, get, create through
ingest, and an admin's recorded correction or deletion, the live state kept in step."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from app.blueprints.telemetry.ingest import ingest
from app.blueprints.telemetry.models import MachineState, Reading, ReadingCorrection
from app.core.extensions import db

URL = "/api/v1/readings"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def _at(minutes):
    return T0 + timedelta(minutes=minutes)


def _store(machine, *temperatures):
    """Readings a minute apart, each one a change, through the real ingest."""
    ingest([{"ts": _at(i).isoformat(), "values": {"temperature": t}}
            for i, t in enumerate(temperatures)], "webhook", machine=machine)
    db.session.commit()


def _key(machine, minutes):
    from app.blueprints.telemetry.stored import reading_key
    return reading_key(machine.id, _at(minutes))


def _temperatures(response):
    return [r["values"]["temperature"] for r in response.json["items"]]


@pytest.mark.parametrize("url", [URL, "/api/v1/data"])
def test_list_by_machine_and_time_range(api_as, make_machine, url):
    machine, other = make_machine(), make_machine()
    _store(machine, 20, 21, 22, 23, 24)
    _store(other, 50)
    api, _ = api_as("viewer")
    assert _temperatures(api.get(f"{url}?machine={machine.id}")) == [24, 23, 22, 21, 20]
    ranged = api.get(f"{url}?machine={machine.id}&sort=ts&from={_at(1).isoformat()}"
                     f"&to={_at(3).isoformat()}".replace("+", "%2B"))
    assert _temperatures(ranged) == [21, 22]
    page = api.get(f"{url}?machine={machine.id}&per_page=2&page=3").json
    assert page["total"] == 5 and page["pages"] == 3 and len(page["items"]) == 1
    item = page["items"][0]
    assert item["id"] == _key(machine, 0) and item["machine_id"] == machine.id
    assert item["ts"] == _at(0).isoformat() and item["source"] == "webhook"


def test_the_list_needs_a_machine_and_an_ordered_range(api_as, make_machine):
    machine = make_machine()
    api, _ = api_as("viewer")
    response = api.get(URL)
    assert response.status_code == 422 and "machine" in response.json["error"]["fields"]
    response = api.get(f"{URL}?machine={machine.id}&from=2026-11-02T00:00:00&to=2026-11-01")
    assert response.status_code == 422 and "from" in response.json["error"]["fields"]
    assert api.get(f"{URL}?machine=999999").status_code == 404


def test_an_operator_sees_only_its_machines_readings(api_as, make_machine):
    api, operator = api_as("operator")
    mine, other = make_machine(operators=[operator]), make_machine()
    _store(mine, 20)
    _store(other, 30)
    assert _temperatures(api.get(f"{URL}?machine={mine.id}")) == [20]
    assert api.get(f"{URL}?machine={other.id}").status_code == 403
    assert api.get(f"{URL}/{_key(other, 0)}").status_code == 403
    assert api.get(f"{URL}/{_key(mine, 0)}").status_code == 200


def test_get_one_with_an_etag_and_unknown_ids(api_as, make_machine):
    machine = make_machine()
    _store(machine, 20)
    api, _ = api_as("viewer")
    response = api.get(f"/api/v1/data/{_key(machine, 0)}")
    assert response.status_code == 200 and response.headers["ETag"]
    assert response.json["values"] == {"temperature": 20} and response.json["corrections"] == []
    for bad in (_key(machine, 5), "nonsense", "12-", "-5", "99999999999-0", "0-1"):
        missing = api.get(f"{URL}/{bad}")
        assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"


def test_create_goes_through_ingest(api_as, make_machine):
    machine = make_machine()
    api, _ = api_as("shift_manager")
    body = {"machine_id": machine.id, "ts": _at(0).isoformat(), "values": {"temperature": 40}}
    response = api.post(URL, json=body)
    assert response.status_code == 201, response.json
    assert response.json["outcome"] == "stored"
    assert response.headers["Location"].endswith(f"{URL}/{_key(machine, 0)}")
    state = db.session.get(MachineState, machine.id)
    assert state.values == {"temperature": 40}
    again = api.post("/api/v1/data", json=body)
    assert again.status_code == 200 and again.json["outcome"] == "duplicate"
    same = api.post(URL, json={**body, "ts": _at(1).isoformat()})
    assert same.status_code == 200 and same.json == {"outcome": "unchanged", "reading": None}
    assert db.session.scalar(select(Reading.source).where(Reading.machine_id == machine.id)) \
        == "api"


def test_create_refuses_what_ingest_refuses(api_as, make_machine):
    machine = make_machine()
    api, _ = api_as("admin")
    wrong = api.post(URL, json={"machine_id": machine.id, "ts": _at(0).isoformat(),
                                "values": {"temperature": "hot", "colour": 1}})
    assert wrong.status_code == 422
    assert "temperature must be a number" in wrong.json["error"]["fields"]["values"]
    assert "unknown metric 'colour'" in wrong.json["error"]["fields"]["values"]
    future = api.post(URL, json={"machine_id": machine.id, "values": {"temperature": 1},
                                 "ts": (datetime.now(UTC) + timedelta(hours=1)).isoformat()})
    assert future.status_code == 422 and "future" in future.json["error"]["fields"]["ts"]
    assert api.post(URL, json={"machine_id": 999999, "ts": _at(0).isoformat(),
                               "values": {"temperature": 1}}).status_code == 404
    assert db.session.scalar(select(Reading.ts).where(Reading.machine_id == machine.id)) \
        is None


def _etag(api, url):
    return api.get(url).headers["ETag"]


def test_an_admin_corrects_the_latest_reading_and_the_state_follows(api_as, make_machine):
    machine = make_machine()
    _store(machine, 20, 21, 99)
    api, admin = api_as("admin")
    url = f"{URL}/{_key(machine, 2)}"
    body = {"values": {"temperature": 22}, "reason": "Sensor spike, checked by hand"}
    assert api.put(url, json=body).status_code == 428
    response = api.put(url, json=body, headers={"If-Match": _etag(api, url)})
    assert response.status_code == 200, response.json
    assert response.json["values"] == {"temperature": 22}
    [record] = response.json["corrections"]
    assert record["before"] == {"temperature": 99} and record["after"] == {"temperature": 22}
    assert record["actor"]["id"] == admin.id and record["action"] == "corrected"
    db.session.expire_all()
    state = db.session.get(MachineState, machine.id)
    assert state.values == {"temperature": 22} and state.trend[-1] == 22


def test_correcting_an_older_reading_leaves_the_state(api_as, make_machine):
    machine = make_machine()
    _store(machine, 20, 21)
    api, _ = api_as("admin")
    url = f"/api/v1/data/{_key(machine, 0)}"
    response = api.patch(url, json={"values": {"temperature": 19}, "reason": "Calibrated"},
                         headers={"If-Match": _etag(api, url)})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(MachineState, machine.id).values == {"temperature": 21}


def test_a_correction_is_checked_like_ingest(api_as, make_machine):
    machine = make_machine()
    _store(machine, 20)
    api, _ = api_as("admin")
    url = f"{URL}/{_key(machine, 0)}"
    etag = {"If-Match": _etag(api, url)}
    wrong = api.put(url, json={"values": {"temperature": "x"}, "reason": "r"}, headers=etag)
    assert wrong.status_code == 422 and "values" in wrong.json["error"]["fields"]
    blank = api.put(url, json={"values": {"temperature": 5}, "reason": "  "}, headers=etag)
    assert blank.status_code == 422 and "reason" in blank.json["error"]["fields"]
    assert db.session.scalars(select(ReadingCorrection)).all() == []


def test_an_admin_deletes_the_latest_reading_and_the_state_rolls_back(api_as, make_machine):
    machine = make_machine()
    _store(machine, 20, 21)
    api, _ = api_as("admin")
    url = f"{URL}/{_key(machine, 1)}"
    etag = {"If-Match": _etag(api, url)}
    assert api.delete(url, headers=etag).status_code == 422  # no reason
    assert api.delete(f"{url}?reason=Test+data", headers=etag).status_code == 204
    assert api.get(url).status_code == 404
    db.session.expire_all()
    state = db.session.get(MachineState, machine.id)
    assert state.values == {"temperature": 20} and state.reading_ts == _at(0)
    record = db.session.scalar(select(ReadingCorrection))
    assert (record.action, record.before, record.after, record.reason) == \
        ("deleted", {"temperature": 21}, None, "Test data")


@pytest.mark.parametrize("role", ["production_manager", "engineer", "operator"])
def test_only_admins_correct_or_delete(api_as, make_machine, role):
    api, user = api_as(role)
    machine = make_machine(operators=[user] if role == "operator" else ())
    _store(machine, 20)
    url = f"{URL}/{_key(machine, 0)}"
    etag = {"If-Match": _etag(api, url)}
    assert api.put(url, json={"values": {"temperature": 1}, "reason": "r"},
                   headers=etag).status_code == 403
    assert api.delete(f"{url}?reason=r", headers=etag).status_code == 403
    assert db.session.get(Reading, (machine.id, _at(0))).values == {"temperature": 20}
