"""Machines over the API: the pattern resource (list, get, create, update, delete)."""

from sqlalchemy import select

from app.blueprints.machines.models import Machine
from app.blueprints.telemetry.models import MachineState
from app.core.extensions import db

URL = "/api/v1/machines"


def _codes(response):
    return [m["code"] for m in response.json["items"]]


def test_list_filters_sorts_and_pages(api_as, make_machine, make_line, make_machine_type):
    line = make_line()
    mills = make_machine_type(name="Mills")
    for code in ("B-2", "A-1", "C-3"):
        make_machine(code=code, line=line, machine_type=mills)
    make_machine(code="Z-9", status="retired")
    api, _ = api_as("viewer")
    assert _codes(api.get(URL)) == ["A-1", "B-2", "C-3", "Z-9"]
    assert _codes(api.get(f"{URL}?line={line.id}&sort=-code")) == ["C-3", "B-2", "A-1"]
    assert _codes(api.get(f"{URL}?type={mills.id}&q=b-")) == ["B-2"]
    assert _codes(api.get(f"{URL}?status=retired")) == ["Z-9"]
    page = api.get(f"{URL}?per_page=2&page=2&sort=code")
    body = page.json
    assert _codes(page) == ["C-3", "Z-9"] and body["total"] == 4 and body["pages"] == 2
    assert body["links"]["next"] is None
    assert body["links"]["prev"].endswith("per_page=2&page=1&sort=code")
    assert "page=2" in body["links"]["self"]


def test_an_operator_sees_only_its_machines(api_as, make_machine, make_line):
    api, operator = api_as("operator")
    line = make_line(operators=[operator])
    mine = make_machine(code="MINE-1", line=line)
    direct = make_machine(code="MINE-2", operators=[operator])
    other = make_machine(code="OTHER")
    assert _codes(api.get(URL)) == ["MINE-1", "MINE-2"]
    assert api.get(f"{URL}/{mine.id}").status_code == 200
    assert api.get(f"{URL}/{direct.id}").status_code == 200
    response = api.get(f"{URL}/{other.id}")
    assert response.status_code == 403 and response.json["error"]["code"] == "forbidden"


def test_get_one_has_utc_times_and_an_etag(api_as, make_machine):
    machine = make_machine(code="CNC-1", location="Hall B")
    api, _ = api_as("engineer")
    response = api.get(f"{URL}/{machine.id}")
    assert response.status_code == 200
    body = response.json
    assert body["code"] == "CNC-1" and body["location"] == "Hall B"
    assert body["machine_type"]["id"] == machine.machine_type_id
    assert body["created_at"].endswith("+00:00") and "webhook_secret" not in body
    etag = response.headers["ETag"]
    again = api.get(f"{URL}/{machine.id}", headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_unknown_machine_is_a_json_404(api_as):
    api, _ = api_as("viewer")
    for url in (f"{URL}/999999", f"{URL}/99999999999"):
        response = api.get(url)
        assert response.status_code == 404 and response.json["error"]["code"] == "not_found"


def test_manager_creates_a_machine_through_the_service(api_as, make_machine_type, make_user):
    machine_type = make_machine_type()
    operator = make_user("operator")
    api, _ = api_as("production_manager")
    response = api.post(URL, json={"code": "cnc-07", "name": "Mill seven",
                                   "machine_type_id": machine_type.id,
                                   "operator_ids": [operator.id]})
    assert response.status_code == 201, response.json
    assert response.json["code"] == "CNC-07"  # the service's rule: codes in capitals
    assert response.headers["Location"].endswith(f"{URL}/{response.json['id']}")
    assert response.json["operator_ids"] == [operator.id]
    machine = db.session.scalar(select(Machine).filter_by(code="CNC-07"))
    assert machine.webhook_secret and machine.status == "active"


def test_service_validation_is_422_with_fields(api_as, make_machine, make_machine_type):
    make_machine(code="TAKEN")
    machine_type = make_machine_type()
    api, _ = api_as("shift_manager")
    taken = api.post(URL, json={"code": "taken", "name": "X", "machine_type_id": machine_type.id})
    assert taken.status_code == 422 and "code" in taken.json["error"]["fields"]
    polling = api.post(URL, json={"code": "P-1", "name": "X", "polling_enabled": True,
                                  "machine_type_id": machine_type.id})
    assert polling.json["error"]["fields"].keys() == {"polling_enabled"}
    unknown = api.post(URL, json={"code": "P-2", "name": "X", "machine_type_id": 424242})
    assert unknown.status_code == 422 and "machine_type_id" in unknown.json["error"]["fields"]
    assert db.session.scalar(select(Machine).filter_by(code="P-1")) is None


def test_update_needs_the_current_etag(api_as, make_machine):
    machine = make_machine(code="E-1", name="Old name")
    api, _ = api_as("admin")
    url = f"{URL}/{machine.id}"
    etag = api.get(url).headers["ETag"]
    missing = api.patch(url, json={"name": "New"})
    assert missing.status_code == 428
    updated = api.patch(url, json={"name": "New name"}, headers={"If-Match": etag})
    assert updated.status_code == 200 and updated.json["name"] == "New name"
    assert updated.json["code"] == "E-1" and updated.headers["ETag"] != etag
    # A second tablet still holding the old ETag cannot overwrite the change silently.
    stale = api.patch(url, json={"name": "Other"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["error"]["code"] == "precondition_failed"
    db.session.expire_all()
    assert db.session.get(Machine, machine.id).name == "New name"


def test_delete_only_a_machine_without_readings(api_as, make_machine):
    fresh = make_machine(code="NEW-1")
    reported = make_machine(code="OLD-1")
    db.session.add(MachineState(machine=reported, values={"temperature": 20}))
    db.session.commit()
    api, _ = api_as("admin")
    for machine, status in ((reported, 422), (fresh, 204)):
        url = f"{URL}/{machine.id}"
        etag = api.get(url).headers["ETag"]
        assert api.delete(url, headers={"If-Match": etag}).status_code == status
    assert db.session.scalar(select(Machine).filter_by(code="NEW-1")) is None
    assert db.session.scalar(select(Machine).filter_by(code="OLD-1")) is not None
