"""Equipment (the floor-dashboard seed's shape): machines with live values and connectivity."""

from datetime import timedelta

from app.blueprints.telemetry.models import MachineState
from app.core.extensions import db
from app.core.models import utcnow


def _reported(machine, seconds_ago, **values):
    seen = utcnow() - timedelta(seconds=seconds_ago)
    db.session.add(MachineState(machine=machine, values=values, last_seen_at=seen,
                                reading_ts=seen, last_changed_at=seen))
    db.session.commit()


def test_equipment_lists_live_state(api_as, make_machine):
    hot = make_machine(code="HOT-1")
    quiet = make_machine(code="QUIET-1")
    make_machine(code="NEW-1")
    _reported(hot, 5, temperature=80)
    _reported(quiet, 3600, temperature=40)
    api, _ = api_as("viewer")
    response = api.get("/api/v1/equipment")
    assert response.status_code == 200
    items = {e["code"]: e for e in response.json["items"]}
    assert items["HOT-1"]["connectivity"] == "reporting"
    assert items["HOT-1"]["metrics"] == [{"key": "temperature", "label": "Temperature",
                                          "unit": "°C", "value": 80, "level": "high"}]
    assert items["QUIET-1"]["connectivity"] == "silent"
    assert items["NEW-1"]["connectivity"] == "none" and items["NEW-1"]["last_seen_at"] is None


def test_equipment_status_by_code(api_as, make_machine):
    machine = make_machine(code="CNC-7")
    _reported(machine, 1, temperature=50)
    api, operator = api_as("operator")
    assert api.get("/api/v1/equipment/cnc-7/status").status_code == 403
    machine.operators.append(operator)
    db.session.commit()
    response = api.get("/api/v1/equipment/cnc-7/status")
    assert response.status_code == 200 and response.json["code"] == "CNC-7"
    assert response.json["metrics"][0]["level"] == "normal"
    missing = api.get("/api/v1/equipment/NOPE/status")
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    assert [e["code"] for e in api.get("/api/v1/equipment").json["items"]] == ["CNC-7"]
