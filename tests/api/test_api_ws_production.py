"""Production's JSON events over the API socket: a real server, Redis and websocket client
(helpers and the description check from tests/api/test_api_ws.py)."""

from datetime import UTC, datetime, timedelta

import pytest

from app.blueprints.production import services
from app.core.extensions import db
from tests.api.test_api_ws import _description, _open, _receive_type, _send  # noqa: F401

pytestmark = pytest.mark.live


def test_downtime_and_oee_events_reach_a_line_subscriber(live_server, make_user, plant):
    machine, line = plant["machine"], plant["line"]
    ws, _ = _open(live_server, make_user("shift_manager").username)
    try:
        assert _send(ws, type="subscribe", scope="line", id=line.id)["type"] == "subscribed"
        # A stop entered afterwards, Monday 2 Nov 07:00–07:30 local (06:00–06:30 UTC).
        services.record_downtime(machine, datetime(2026, 11, 2, 6, tzinfo=UTC),
                                 datetime(2026, 11, 2, 6, 30, tzinfo=UTC),
                                 plant["reasons"]["breakdown"])
        db.session.commit()
        event = _receive_type(ws, "downtime_event")
        assert (event["machine_id"], event["line_id"]) == (machine.id, line.id)
        data = event["data"]
        assert (data["action"], data["machine"]["code"], data["reason"]["name"]) == \
            ("recorded", "PRESS-1", "Tool breakage")
        updates = [_receive_type(ws, "oee_update") for _ in range(2)]
        by_level = {u["data"]["machine"] is None: u for u in updates}
        line_update = by_level[True]
        assert line_update["line_id"] == line.id and line_update["machine_id"] is None
        hour = next(b for b in line_update["data"]["buckets"]
                    if b["label"] == "2026-11-02 07:00")
        # The hour 07:00–08:00 holds the whole stop: A = 1 800 / 3 600.
        assert hour["availability"] == 0.5 and hour["downtime_seconds"] == 1800
        assert by_level[False]["data"]["machine"]["id"] == machine.id

        # Now: a stop opens, gets its reason, closes.
        opened = services.open_downtime(machine, "manual", at=datetime.now(UTC)
                                        - timedelta(minutes=10))
        db.session.commit()
        assert _receive_type(ws, "downtime_event")["data"]["action"] == "opened"
        services.set_downtime_reason(opened, plant["reasons"]["maintenance"].id)
        db.session.commit()
        coded = _receive_type(ws, "downtime_event")["data"]
        assert (coded["action"], coded["reason"]["planned"]) == ("reason_set", True)
        services.close_downtime(machine, "manual")
        db.session.commit()
        closed = _receive_type(ws, "downtime_event")["data"]
        assert closed["action"] == "closed" and closed["ended_at"] is not None
    finally:
        ws.close()


def test_operator_gets_production_events_of_its_machines_only(live_server, make_user, plant,
                                                              make_line, make_machine):
    operator = make_user("operator")
    mine = make_machine(code="OWN-1", line=make_line(code="L-OWN"), operators=[operator])
    ws, _ = _open(live_server, operator.username)
    try:
        assert _send(ws, type="subscribe", scope="plant")["type"] == "subscribed"
        stop = (datetime(2026, 11, 3, 6, tzinfo=UTC), datetime(2026, 11, 3, 6, 20, tzinfo=UTC))
        services.record_downtime(plant["machine"], *stop)  # published first
        db.session.commit()
        services.record_downtime(mine, *stop)
        db.session.commit()
        first = _receive_type(ws, "downtime_event")
        assert first["data"]["machine"]["code"] == "OWN-1"
        update = _receive_type(ws, "oee_update")
        assert update["data"]["line"]["code"] == "L-OWN"
    finally:
        ws.close()
