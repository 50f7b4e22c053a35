"""The /ws socket over a real HTTP server and real Redis pub/sub."""


import pytest
from simple_websocket import ConnectionClosed

from app.blueprints.machines import services
from app.core.extensions import db
from tests.helpers import session_cookie as _session_cookie
from tests.helpers import ws_url as _ws_url
from tests.ws_client import Client

pytestmark = pytest.mark.live


def _open_socket(base_url, username):
    """A logged-in socket, returned once the server says it is subscribed."""
    ws = Client.connect(_ws_url(base_url),
                        headers={"Cookie": _session_cookie(base_url, username)})
    hello = ws.receive(timeout=5)
    assert hello is not None and 'id="live-dot"' in hello and "on" in hello
    return ws


def test_anonymous_socket_is_closed_with_policy_violation(live_server):
    ws = Client.connect(_ws_url(live_server))
    with pytest.raises(ConnectionClosed) as closed:
        ws.receive(timeout=5)
    assert closed.value.reason == 1008


def test_machine_edit_reaches_an_open_socket_as_a_fragment(live_server, make_user,
                                                          make_machine, make_line):
    operator = make_user("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="LIVE-1", line=line, name="Before")
    ws = _open_socket(live_server, operator.username)
    try:
        services.save_machine(machine, code=machine.code, name="After the edit",
                              machine_type=machine.machine_type, line=line)
        db.session.commit()
        fragment = ws.receive(timeout=5)
    finally:
        ws.close()
    assert fragment is not None, "no fragment arrived within 5 s"
    assert f'id="machine-{machine.id}" hx-swap-oob="true"' in fragment
    assert "After the edit" in fragment
    assert f'id="machine-{machine.id}-tile"' in fragment


def test_operator_who_loses_a_machine_gets_a_delete(live_server, make_user, make_machine):
    operator = make_user("operator")
    machine = make_machine(code="GONE-1", operators=[operator])
    ws = _open_socket(live_server, operator.username)
    try:
        services.set_machine_operators(machine, [])
        db.session.commit()
        fragment = ws.receive(timeout=5)
    finally:
        ws.close()
    assert f'id="machine-{machine.id}" hx-swap-oob="delete"' in fragment
    assert "GONE-1" not in fragment


def test_nothing_is_published_when_the_transaction_rolls_back(live_server, make_user,
                                                             make_machine):
    viewer = make_user("viewer")
    machine = make_machine(code="ROLL-1")
    ws = _open_socket(live_server, viewer.username)
    try:
        services.save_machine(machine, code=machine.code, name="Never saved",
                              machine_type=machine.machine_type)
        db.session.rollback()
        assert ws.receive(timeout=1) is None
    finally:
        ws.close()


def test_socket_of_a_deactivated_user_is_closed(live_server, make_user, make_machine):
    operator = make_user("operator")
    machine = make_machine(code="KICK-1", operators=[operator])
    ws = _open_socket(live_server, operator.username)
    operator.active = False
    operator.session_version += 1
    services.save_machine(machine, code=machine.code, name="Renamed",
                          machine_type=machine.machine_type)
    db.session.commit()
    with pytest.raises(ConnectionClosed) as closed:
        ws.receive(timeout=5)
    assert closed.value.reason == 1008
