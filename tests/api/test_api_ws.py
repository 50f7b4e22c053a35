"""The JSON socket /api/v1/ws over a real HTTP server, real Redis pub/sub and a real
websocket client (simple_websocket, as tests/realtime does for the pages' /ws)."""

import json
import time
from datetime import UTC, datetime

import jsonschema_rs
import jwt
import pytest
import requests
from simple_websocket import ConnectionClosed

from app.blueprints.alerts import alert_services, rules
from app.blueprints.alerts.models import AlertRule
from app.blueprints.auth import services as auth_services
from app.blueprints.telemetry.ingest import ingest
from app.core.extensions import db
from tests.helpers import PASSWORD
from tests.ws_client import Client

pytestmark = pytest.mark.live


def _login(base_url, username):
    response = requests.post(f"{base_url}/api/v1/auth/login", timeout=5,
                             json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def _ws_url(base_url, token):
    return base_url.replace("http://", "ws://") + f"/api/v1/ws?token={token}"


_DESCRIPTION = {}


@pytest.fixture(autouse=True)
def _description(live_server):
    """Every server message is checked against WsServerMessage in the server's own OpenAPI
    description: the socket sends what the description promises."""
    spec = requests.get(f"{live_server}/api/v1/openapi.json", timeout=5).json()
    _DESCRIPTION["validator"] = jsonschema_rs.validator_for({
        "$ref": "#/components/schemas/WsServerMessage", "components": spec["components"]})


def _described(raw):
    message = json.loads(raw)
    _DESCRIPTION["validator"].validate(message)
    return message


def _receive(ws, timeout=5):
    raw = ws.receive(timeout=timeout)
    assert raw is not None, f"nothing arrived within {timeout} s"
    return _described(raw)


def _receive_type(ws, kind, timeout=5):
    """Messages until one of `kind`; that one."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        raw = ws.receive(timeout=left)
        if raw is not None and (message := _described(raw))["type"] == kind:
            return message
    raise AssertionError(f"no {kind} within {timeout} s")


def _receive_types(ws, kinds, timeout=5):
    """{type: data} of the first message of each of `kinds`, in whatever order they come."""
    got = {}
    deadline = time.monotonic() + timeout
    while kinds - set(got) and (left := deadline - time.monotonic()) > 0:
        raw = ws.receive(timeout=left)
        if raw is not None and (message := _described(raw))["type"] in kinds:
            got.setdefault(message["type"], message["data"])
    assert set(got) == kinds, f"missing {kinds - set(got)}"
    return got


def _open(base_url, username=None, token=None):
    """A socket past its `ready` message."""
    token = token or _login(base_url, username)["access_token"]
    ws = Client.connect(_ws_url(base_url, token))
    # A ping right away: its pong makes the client read a `ready` that came in the
    # handshake's packet (simple-websocket leaves such a frame unread until the next).
    ws.send(json.dumps({"type": "ping", "ref": "open"}))
    ready = _receive(ws)
    assert ready["type"] == "ready"
    assert _receive(ws) == {"type": "pong", "ref": "open"}
    return ws, ready


def _send(ws, **message):
    ws.send(json.dumps(message))
    return _receive(ws)


def _closed_with(ws, timeout=5):
    """(close code, reason) once the server closes; messages before it are skipped."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.receive(timeout=timeout)
    return closed.value.reason, closed.value.message


def _refused_with(ws):
    """A refused socket says why in an error message, then closes with the code."""
    error = _receive(ws)
    assert error["type"] == "error"
    reason, code = _closed_with(ws)
    assert code == error["error"]["code"]
    return reason, code


def _report(machine, temperature):
    now = datetime.now(UTC)
    ingest([{"ts": now.isoformat(), "values": {"temperature": temperature}}], "webhook",
           machine=machine, now=now)
    db.session.commit()


# --- opening: tokens and close codes ---------------------------------------------------

def test_no_token_or_a_bad_one_closes_with_4401(live_server):
    for token in ("", "not-a-jwt"):
        ws = Client.connect(_ws_url(live_server, token))
        assert _refused_with(ws) == (4401, "unauthorized" if not token else "invalid_token")


def test_expired_token_closes_with_4401_at_once_and_when_it_runs_out(app, live_server,
                                                                    make_user):
    user = make_user("viewer")
    claims = jwt.decode(_login(live_server, user.username)["access_token"],
                        options={"verify_signature": False})
    key = app.config["JWT_SECRET_KEY"] or app.config["SECRET_KEY"]
    expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, key, algorithm="HS256")
    ws = Client.connect(_ws_url(live_server, expired))
    assert _refused_with(ws) == (4401, "token_expired")

    soon = jwt.encode({**claims, "exp": int(time.time()) + 2}, key, algorithm="HS256")
    ws, ready = _open(live_server, token=soon)
    assert ready["user"] == {"id": user.id, "username": user.username, "role": "viewer"}
    assert _send(ws, type="ping")["type"] == "pong"
    assert _closed_with(ws, timeout=10) == (4401, "token_expired")


def test_logout_closes_the_socket_with_4401(live_server, make_user):
    user = make_user("viewer")
    tokens = _login(live_server, user.username)
    ws, _ = _open(live_server, token=tokens["access_token"])
    response = requests.post(f"{live_server}/api/v1/auth/logout", timeout=5, headers={
        "Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 204
    assert _closed_with(ws) == (4401, "token_revoked")


def test_deactivated_user_is_closed_with_4401_on_the_next_message(live_server, make_user):
    user = make_user("viewer")
    manager = make_user("admin")
    ws, _ = _open(live_server, user.username)
    auth_services.set_active(manager, user, False)
    db.session.commit()
    ws.send(json.dumps({"type": "ping"}))
    assert _closed_with(ws) == (4401, "token_revoked")


def test_deactivated_user_is_closed_with_4401_at_the_next_event(live_server, make_user,
                                                                 make_machine):
    user = make_user("viewer")
    machine = make_machine(code="WS-KICK")
    ws, _ = _open(live_server, user.username)
    assert _send(ws, type="subscribe", scope="plant")["type"] == "subscribed"
    auth_services.set_active(make_user("admin"), user, False)
    _report(machine, 30)  # any commit's message reaches the hub, which checks tokens
    assert _closed_with(ws) == (4401, "token_revoked")


def test_unfinished_first_login_closes_with_4403(live_server, make_user):
    user = make_user("viewer", profile_completed_at=None)
    ws = Client.connect(_ws_url(live_server, _login(live_server, user.username)["access_token"]))
    assert _refused_with(ws) == (4403, "profile_required")


# --- client messages ---------------------------------------------------------------------

def test_ping_pong_and_bad_messages_get_errors_not_a_closed_socket(live_server, make_user):
    ws, ready = _open(live_server, make_user("viewer").username)
    try:
        assert ready["scopes"] == ["plant", "line", "machine"]
        assert _send(ws, type="ping", ref="p1") == {"type": "pong", "ref": "p1"}
        ws.send("{not json")
        assert _receive(ws)["error"]["code"] == "bad_request"
        ws.send("[1, 2]")
        assert _receive(ws)["error"]["code"] == "bad_request"
        unknown = _send(ws, type="dance", ref=7)
        assert unknown["ref"] == 7 and unknown["error"]["code"] == "validation_failed"
        assert "type" in unknown["error"]["fields"]
        no_id = _send(ws, type="subscribe", scope="line")
        assert no_id["error"]["fields"] == {"id": "The line's id, a positive integer."}
        assert _send(ws, type="subscribe", scope="shop")["error"]["fields"]["scope"]
        assert _send(ws, type="subscribe", scope="line", id=999999)["error"]["code"] == \
            "not_found"
        ws.send("x" * 5000)
        assert _receive(ws)["error"]["code"] == "payload_too_large"
        assert _send(ws, type="ping")["type"] == "pong"
    finally:
        ws.close()


# --- subscribe, snapshot, events, unsubscribe ----------------------------------------------

def test_line_subscription_snapshot_events_and_unsubscribe(live_server, make_user, make_line,
                                                           make_machine, make_andon_call):
    line = make_line(code="WS-L1", name="Press line")
    press = make_machine(code="WS-P1", line=line)
    other = make_machine(code="WS-O1")
    call = make_andon_call(press)
    ws, _ = _open(live_server, make_user("shift_manager").username)
    try:
        subscribed = _send(ws, type="subscribe", scope="line", id=line.id, ref="s1")
        assert (subscribed["type"], subscribed["ref"], subscribed["scope"], subscribed["id"]) \
            == ("subscribed", "s1", "line", line.id)
        snapshot = subscribed["snapshot"]
        assert [m["code"] for m in snapshot["machines"]] == ["WS-P1"]
        assert snapshot["machines"][0]["connectivity"] == "none"
        assert snapshot["lines"] == [{
            "line": {"id": line.id, "code": "WS-L1", "name": "Press line"}, "status": "stopped",
            "machines": 1, "connectivity": {"reporting": 0, "silent": 0, "unreachable": 0,
                                            "none": 1}, "machine_ids": [press.id]}]
        assert [(c["id"], c["status"]) for c in snapshot["andon_events"]] == [(call.id, "open")]
        assert snapshot["alerts"] == []

        _report(press, 42)
        event = _receive_type(ws, "equipment_status_update")
        assert event["data"]["id"] == press.id and event["data"]["connectivity"] == "reporting"
        assert event["data"]["metrics"][0]["value"] == 42
        assert event["at"].endswith("+00:00")
        status = _receive_type(ws, "line_status_update")
        assert status["data"]["status"] == "running"

        assert _send(ws, type="unsubscribe", scope="line", id=line.id) == {
            "type": "unsubscribed", "ref": None, "scope": "line", "id": line.id}
        assert _send(ws, type="subscribe", scope="machine", id=other.id)["type"] == "subscribed"
        _report(press, 43)   # published first: it would arrive first if it were delivered
        _report(other, 44)
        first = _receive(ws)
        assert (first["type"], first["data"]["id"]) == ("equipment_status_update", other.id)
    finally:
        ws.close()


def test_alert_task_and_notification_of_one_commit_reach_a_plant_subscriber(
        live_server, make_user, make_machine_type, make_machine):
    cnc = make_machine_type("WS-CNC", metrics=(("temperature", "Temperature", "°C", 20, 70),))
    manager = make_user("production_manager")
    machine = make_machine(code="WS-HOT", machine_type=cnc)
    rules.save_rule(AlertRule(), name="Hot", kind="threshold", machine_type=cnc, machine=None,
                    metric_key="temperature", condition=">", threshold="70",
                    sustained_seconds=0, offline_intervals=None, severity="critical",
                    template="", create_task=True, enabled=True)
    db.session.commit()
    ws, _ = _open(live_server, manager.username)
    try:
        assert _send(ws, type="subscribe", scope="plant")["snapshot"]["alerts"] == []
        _report(machine, 90)
        got = _receive_types(ws, {"equipment_status_update", "system_alert", "task_update",
                                  "notification"})
        alert = got["system_alert"]
        assert (alert["machine"]["code"], alert["severity"], alert["state"]) == \
            ("WS-HOT", "critical", "active")
        task = got["task_update"]
        assert task["machine"]["id"] == machine.id and task["alert_id"] == alert["id"]
        assert got["notification"]["url"] and got["notification"]["read_at"] is None

        alert_services.acknowledge_alert(db.session.get(
            alert_services.Alert, alert["id"]), manager)
        db.session.commit()
        update = _receive_type(ws, "alert_update")["data"]
        assert update["id"] == alert["id"] and update["acknowledged_by"]["id"] == manager.id
    finally:
        ws.close()


def test_operator_gets_only_its_machines(live_server, make_user, make_line, make_machine,
                                         make_andon_call):
    operator = make_user("operator")
    line = make_line(code="WS-OP")
    mine = make_machine(code="WS-MINE", line=line, operators=[operator])
    theirs = make_machine(code="WS-THEIRS", line=line)
    elsewhere = make_machine(code="WS-ELSE", line=make_line(code="WS-NOT"))
    make_andon_call(theirs)
    ws, _ = _open(live_server, operator.username)
    try:
        snapshot = _send(ws, type="subscribe", scope="plant")["snapshot"]
        assert [m["code"] for m in snapshot["machines"]] == ["WS-MINE"]
        assert [s["line"]["code"] for s in snapshot["lines"]] == ["WS-OP"]
        assert snapshot["lines"][0]["machine_ids"] == [mine.id]
        assert snapshot["andon_events"] == []
        assert _send(ws, type="subscribe", scope="machine", id=theirs.id)["error"]["code"] \
            == "forbidden"
        assert _send(ws, type="subscribe", scope="line", id=elsewhere.line_id)["error"][
            "code"] == "forbidden"

        make_andon_call(theirs, kind="quality")
        _report(theirs, 50)
        _report(mine, 51)
        first = _receive(ws)
        assert (first["type"], first["data"]["id"]) == ("equipment_status_update", mine.id)
    finally:
        ws.close()
