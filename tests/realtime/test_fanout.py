"""One message per commit on Redis, one render per audience on the sockets."""

import json
import logging
import re
import time
from datetime import UTC, datetime

import pytest
import requests
from flask import render_template_string
from redis import Redis
from simple_websocket import ConnectionClosed
from sqlalchemy import select

from app.blueprints.alerts import rules
from app.blueprints.alerts.models import AlertRule
from app.blueprints.machines import services
from app.blueprints.machines.models import Machine
from app.blueprints.tasks.models import Task
from app.blueprints.telemetry.ingest import ingest
from app.core.badges import publish_badges
from app.core.extensions import db, redis_client
from app.realtime import (
    PER_USER,
    PER_VISIBILITY,
    live_renderer,
    pending_events,
    publish_after_commit,
)
from app.realtime.publish import live_channel
from app.realtime.renderers import RENDERERS, render_event
from tests.helpers import PASSWORD, open_socket, receive_until, ws_url
from tests.ws_client import Client


def _subscribed():
    pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(live_channel())
    deadline = time.monotonic() + 5
    while pubsub.get_message(timeout=0.1) is None and time.monotonic() < deadline:
        pass  # the subscribe confirmation is swallowed; wait until it has come
    return pubsub


def _messages(pubsub, wait=1.0):
    got, deadline = [], time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        message = pubsub.get_message(timeout=left)
        if message is not None:
            got.append(json.loads(message["data"]))
    return got


def test_a_commit_that_raises_an_alert_with_a_task_is_one_redis_message(
        make_machine_type, make_machine, make_user):
    cnc = make_machine_type("CNC", metrics=(("temperature", "Temperature", "°C", 20, 70),))
    operator = make_user("operator")
    make_user("production_manager")
    machine = make_machine(code="ONE-MSG", machine_type=cnc, operators=[operator])
    rules.save_rule(AlertRule(), name="Hot", kind="threshold", machine_type=cnc, machine=None,
                    metric_key="temperature", condition=">", threshold="70",
                    sustained_seconds=0, offline_intervals=None, severity="warning",
                    template="", create_task=True, enabled=True)
    db.session.commit()
    pubsub = _subscribed()
    try:
        now = datetime.now(UTC)
        ingest([{"ts": now.isoformat(), "values": {"temperature": 90}}], "webhook",
               machine=machine, now=now)
        db.session.commit()
        messages = _messages(pubsub)
    finally:
        pubsub.close()
    assert db.session.scalar(select(Task).where(Task.machine_id == machine.id)) is not None
    assert len(messages) == 1
    names = [event["event"] for event in messages[0]]
    assert {"telemetry.updated", "alert.raised", "task.changed", "notification.created",
            "badges.changed"} <= set(names)


def test_nothing_is_published_for_a_rolled_back_transaction():
    pubsub = _subscribed()
    try:
        publish_after_commit("machine.updated", id=1)
        db.session.rollback()
        assert _messages(pubsub, wait=0.5) == []
    finally:
        pubsub.close()


def test_a_commit_succeeds_and_logs_when_redis_is_down(app, monkeypatch, caplog):
    # Port 1 on loopback: nothing listens, so the publish fails at once.
    monkeypatch.setitem(app.extensions, "floorline_redis",
                        Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    caplog.set_level(logging.WARNING, logger="app.realtime.publish")
    publish_after_commit("machine.updated", id=1)
    publish_after_commit("alert.changed", id=2)
    db.session.commit()
    [record] = [r for r in caplog.records if "not sent" in r.getMessage()]
    assert "alert.changed, machine.updated" in record.getMessage()


def test_after_a_failed_publish_redis_is_not_tried_again_for_a_while(app, monkeypatch,
                                                                      caplog):
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    monkeypatch.setitem(app.extensions, "floorline_redis", down)
    caplog.set_level(logging.WARNING, logger="app.realtime.publish")
    for n in range(3):
        publish_after_commit("machine.updated", id=n)
        db.session.commit()
    records = [r for r in caplog.records if "not sent" in r.getMessage()]
    # Every commit says its update was not sent; only the first one tried (its traceback).
    assert len(records) == 3
    assert [r.exc_info is not None for r in records] == [True, False, False]


def test_a_commits_badge_changes_are_one_event_and_each_user_gets_theirs(app, make_user):
    first, second = make_user("shift_manager"), make_user("shift_manager")
    publish_badges("alerts", user_ids=[first.id])
    publish_badges("tasks", user_ids={second.id})
    publish_badges("alerts", user_ids=[second.id])
    publish_badges("andon")
    [event] = [e for e in pending_events() if e["event"] == "badges.changed"]
    db.session.rollback()
    assert event["users"] == {"alerts": sorted([first.id, second.id]), "tasks": [second.id],
                              "andon": None}
    assert event["names"] == ["alerts", "andon", "tasks"]
    with app.test_request_context():
        html = render_event(event, first)
    assert 'id="badge-alerts"' in html and 'id="badge-andon"' in html
    assert 'id="badge-tasks"' not in html


# --- over the socket ------------------------------------------------------------------------

def _codes(user):
    return sorted(db.session.scalars(services.visible_machines(user).with_only_columns(
        Machine.code)))


@pytest.fixture
def counting():
    """Test events whose renderers count their calls: `test.shared` renders by visibility,
    `test.own` per user. Registered like any domain's renderer, removed afterwards."""
    calls = {"test.shared": [], "test.own": []}

    @live_renderer("test.shared", audience=PER_VISIBILITY)
    def shared(message, user, page):
        calls["test.shared"].append(user.id)
        return render_template_string(
            '<p id="shared">{{ role }} {{ mine }} {{ page }}</p>', role=user.role, page=page,
            mine=",".join(_codes(user)) if user.role == "operator" else "all")

    @live_renderer("test.own", audience=PER_USER)
    def own(message, user, page):
        calls["test.own"].append(user.id)
        return render_template_string(
            '<form id="own" method="post">'
            '<input type="hidden" name="csrf_token" value="{{ csrf_token() }}"></form>')

    yield calls
    for name in calls:
        RENDERERS.pop(name, None)


def _browser_cookie(base_url, username):
    """The cookie of a browser that logged in and opened a page (which keeps the session's
    CSRF secret), as a page's socket sends it."""
    http = requests.Session()
    login = http.get(f"{base_url}/auth/login", timeout=5).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login).group(1)
    http.post(f"{base_url}/auth/login", data={"username": username, "password": PASSWORD,
                                         "csrf_token": token}, timeout=5)
    http.get(f"{base_url}/notifications/", timeout=5)
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def _socket_with(base_url, cookie):
    """A /ws socket on an existing login session, once subscribed."""
    ws = Client.connect(ws_url(base_url), headers={"Cookie": cookie})
    assert 'id="live-dot"' in ws.receive(timeout=5)
    return ws


def _publish(*names):
    for name in names:
        publish_after_commit(name)
    db.session.commit()


@pytest.mark.live
def test_sockets_of_one_audience_share_one_render(live_server, make_user, counting):
    viewers = [make_user("viewer"), make_user("viewer")]
    sockets = [open_socket(live_server, u.username, "?resync=tiles")[0]
               for u in viewers + viewers]
    try:
        _publish("test.shared")
        got = [receive_until(ws, 'id="shared"') for ws in sockets]
    finally:
        for ws in sockets:
            ws.close()
    assert all(html is not None and "viewer all tiles" in html for html in got)
    assert len(counting["test.shared"]) == 1


@pytest.mark.live
def test_each_audience_gets_its_own_html(live_server, make_user, make_machine, counting):
    first, second, third = (make_user("operator") for _ in range(3))
    make_machine(code="AUD-A", operators=[first, second])
    make_machine(code="AUD-B", operators=[third])
    manager = make_user("shift_manager")
    people = [first, second, third, manager]
    on_tiles = [open_socket(live_server, u.username, "?resync=tiles")[0] for u in people]
    on_alerts = open_socket(live_server, first.username, "?resync=alerts:open")[0]
    try:
        _publish("test.shared")
        got = [receive_until(ws, 'id="shared"') for ws in [*on_tiles, on_alerts]]
    finally:
        for ws in [*on_tiles, on_alerts]:
            ws.close()
    assert "operator AUD-A tiles" in got[0] and got[0] == got[1]
    assert "operator AUD-B tiles" in got[2]
    assert "shift_manager all tiles" in got[3]
    assert "operator AUD-A alerts:open" in got[4]
    # first and second are one audience on the tiles page; the rest are one each.
    assert len(counting["test.shared"]) == 4


@pytest.mark.live
def test_per_user_fragments_render_once_per_user_with_each_sockets_own_token(
        live_server, make_user, counting):
    me, other = make_user("viewer"), make_user("viewer")
    cookies = {u.id: _browser_cookie(live_server, u.username) for u in (me, other)}
    sockets = [(user, _socket_with(live_server, cookies[user.id])) for user in (me, me, other)]
    try:
        _publish("test.own")
        got = [(user, receive_until(ws, 'id="own"')) for user, ws in sockets]
    finally:
        for _user, ws in sockets:
            ws.close()
    assert sorted(counting["test.own"]) == sorted([me.id, other.id])
    tokens = [re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
              for _user, html in got]
    assert "placeholder" not in tokens[0] and tokens[0] != tokens[2]
    # A token from the socket is good for a real form post of that socket's session.
    posted = requests.post(f"{live_server}/notifications/read-all",
                           data={"csrf_token": tokens[2]}, allow_redirects=False, timeout=5,
                           headers={"Cookie": cookies[other.id]})
    assert posted.status_code in (302, 303)


@pytest.mark.live
def test_only_the_deactivated_users_socket_closes(live_server, make_user, make_machine,
                                                   counting):
    leaving, staying = make_user("operator"), make_user("viewer")
    make_machine(code="KICK-2", operators=[leaving])
    gone, _ = open_socket(live_server, leaving.username)
    kept, _ = open_socket(live_server, staying.username)
    try:
        leaving.active = False
        leaving.session_version += 1
        _publish("test.shared")
        with pytest.raises(ConnectionClosed) as closed:
            gone.receive(timeout=5)
        fragment = receive_until(kept, 'id="shared"')
    finally:
        kept.close()
    assert closed.value.reason == 1008
    assert fragment is not None and "viewer all" in fragment
    assert counting["test.shared"] == [staying.id]
