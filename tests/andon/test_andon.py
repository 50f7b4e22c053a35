"""Andon calls: raising, duplicates, downtime, answering by role, escalation over
simulated time, the ladder page, photos, the banner, and live delivery over a socket."""

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.blueprints.andon import escalation, services
from app.blueprints.andon.models import AndonCall, AndonEvent, EscalationLevel
from app.blueprints.notifications.models import Notification
from app.blueprints.production.models import Downtime
from app.core.errors import Forbidden
from app.core.extensions import db
from tests.helpers import open_socket, receive_until, redirect_path, text_of

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def floor(make_user, make_line, make_machine):
    """A line with its operator and a machine, and one person of each answering role."""
    operator = make_user("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="PRESS-1", line=line)
    people = {role: make_user(role) for role in (
        "shift_manager", "production_manager", "admin", "maintenance", "quality", "engineer",
        "viewer")}
    return {"operator": operator, "line": line, "machine": machine, **people}


def calls_on(machine):
    return db.session.scalars(select(AndonCall).where(AndonCall.machine_id == machine.id)).all()


def notified(user, kind):
    return db.session.scalars(select(Notification).where(Notification.user_id == user.id,
                                                         Notification.kind == kind)).all()


def png_bytes(size=(40, 30)):
    data = io.BytesIO()
    Image.new("RGB", size, "red").save(data, "PNG")
    return data.getvalue()


def raise_as(browser, machine, kind, **data):
    return browser.post(f"/andon/machine/{machine.id}", {"kind": kind, **data},
                        content_type="multipart/form-data")


# --- raising ----------------------------------------------------------------------------

@pytest.mark.parametrize("kind,priority", [("stoppage", "high"), ("quality", "medium"),
                                           ("material", "medium"), ("maintenance", "medium"),
                                           ("safety", "critical")])
def test_operator_raises_each_kind_with_its_usual_priority(floor, browser, kind, priority):
    machine, operator = floor["machine"], floor["operator"]
    browser.login(operator.username, "correct horse battery")
    page = browser.get(f"/andon/machine/{machine.id}")
    assert page.status_code == 200
    assert 'capture="environment"' in text_of(page) and 'value="safety"' in text_of(page)

    response = raise_as(browser, machine, kind, note="Need help here")
    assert response.status_code == 303
    [call] = calls_on(machine)
    assert (call.kind, call.priority, call.status) == (kind, priority, "open")
    assert call.raised_by_id == operator.id and call.note == "Need help here"
    assert [e.kind for e in call.events] == ["raised"]
    # The people of the machine are told; the one who raised it is not.
    assert notified(floor["shift_manager"], "andon")
    assert notified(floor["maintenance"], "andon")
    assert not notified(operator, "andon")
    assert "Help is called" in text_of(browser.get(redirect_path(response)))


def test_priority_can_be_changed_when_raising(floor, logged_in):
    browser, _user = logged_in("maintenance")
    raise_as(browser, floor["machine"], "material", priority="critical")
    assert calls_on(floor["machine"])[0].priority == "critical"


def test_duplicate_active_call_is_refused_with_a_link_to_the_first(floor, browser):
    machine = floor["machine"]
    browser.login(floor["operator"].username, "correct horse battery")
    raise_as(browser, machine, "stoppage")
    [first] = calls_on(machine)
    events_before = db.session.scalar(select(func.count(AndonEvent.id)))

    again = raise_as(browser, machine, "stoppage", note="Second press")
    assert again.status_code == 422
    html = text_of(again)
    assert "already has an active stoppage call" in html
    assert f'href="/andon/calls/{first.id}"' in html
    assert len(calls_on(machine)) == 1
    assert db.session.scalar(select(func.count(AndonEvent.id))) == events_before
    # Another kind on the same machine is a different call.
    assert raise_as(browser, machine, "material").status_code == 303
    assert len(calls_on(machine)) == 2


def test_a_lost_race_is_refused_by_the_unique_index_with_the_same_message(floor):
    """Two presses at once both pass the check; the index refuses the second insert."""
    machine = floor["machine"]
    first = services.raise_call(floor["operator"], machine, "stoppage", now=T0)
    twin = AndonCall(machine=machine, kind="stoppage", priority="high",
                     raised_by=floor["maintenance"], raised_at=T0)
    with pytest.raises(services.DuplicateCall) as refused:
        services._insert(twin, machine, "stoppage")
    assert refused.value.existing.id == first.id
    assert "already has an active stoppage call" in str(refused.value)
    assert calls_on(machine) == [first]


def test_viewer_and_operator_of_another_line_may_not_raise(floor, make_user, make_line,
                                                          new_browser):
    viewer = new_browser()
    viewer.login(floor["viewer"].username, "correct horse battery")
    assert viewer.get(f"/andon/machine/{floor['machine'].id}").status_code == 403
    assert raise_as(viewer, floor["machine"], "stoppage").status_code == 403
    stranger = make_user("operator")
    make_line(operators=[stranger])
    other = new_browser()
    other.login(stranger.username, "correct horse battery")
    assert raise_as(other, floor["machine"], "stoppage").status_code == 403
    assert calls_on(floor["machine"]) == []


def test_bad_kind_is_refused(floor, logged_in):
    browser, _ = logged_in("shift_manager")
    response = raise_as(browser, floor["machine"], "coffee")
    assert response.status_code == 422
    assert calls_on(floor["machine"]) == []


# --- downtime ----------------------------------------------------------------------------

def test_stoppage_opens_a_downtime_and_resolving_closes_it(floor):
    machine = floor["machine"]
    call = services.raise_call(floor["operator"], machine, "stoppage", note="Jammed", now=T0)
    db.session.commit()
    downtime = call.downtime
    assert downtime is not None and downtime.machine_id == machine.id
    assert downtime.source == "andon" and downtime.ended_at is None
    assert downtime.started_at == T0 and "Jammed" in downtime.reason

    services.resolve(floor["maintenance"], call, "Cleared the jam", now=T0 + timedelta(minutes=12))
    db.session.commit()
    assert db.session.get(Downtime, downtime.id).ended_at == T0 + timedelta(minutes=12)
    assert call.status == "resolved" and call.acknowledged_at == call.resolved_at
    assert [e.kind for e in call.events] == ["raised", "acknowledged", "resolved"]
    assert call.events[-1].detail == "Cleared the jam"
    [told] = notified(floor["operator"], "andon")
    assert "resolved by" in told.title and told.url == f"/andon/calls/{call.id}"


def test_other_kinds_open_no_downtime(floor):
    call = services.raise_call(floor["operator"], floor["machine"], "material", now=T0)
    assert call.downtime_id is None
    assert db.session.scalar(select(func.count(Downtime.id))) == 0


# --- answering ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind,role,allowed", [
    ("stoppage", "shift_manager", True), ("stoppage", "production_manager", True),
    ("stoppage", "admin", True), ("stoppage", "maintenance", True),
    ("stoppage", "quality", False), ("stoppage", "engineer", False),
    ("stoppage", "operator", False), ("stoppage", "viewer", False),
    ("quality", "quality", True), ("maintenance", "engineer", True),
    ("safety", "engineer", True), ("material", "quality", False)])
def test_acknowledge_and_resolve_by_role(floor, browser, kind, role, allowed):
    call = services.raise_call(floor["operator"], floor["machine"], kind, now=T0)
    db.session.commit()
    browser.login(floor[role].username, "correct horse battery")
    ack = browser.post(f"/andon/calls/{call.id}/acknowledge", {})
    resolve = browser.post(f"/andon/calls/{call.id}/resolve", {"note": "Done"})
    db.session.refresh(call)
    if allowed:
        assert (ack.status_code, resolve.status_code) == (303, 303)
        assert call.acknowledged_by_id == floor[role].id
        assert call.resolved_by_id == floor[role].id and call.resolution_note == "Done"
        assert [e.kind for e in call.events] == ["raised", "acknowledged", "resolved"]
    else:
        assert (ack.status_code, resolve.status_code) == (403, 403)
        assert browser.get(f"/andon/calls/{call.id}/resolve").status_code == 403
        assert call.status == "open" and call.acknowledged_at is None
        assert [e.kind for e in call.events] == ["raised"]


@pytest.mark.parametrize("target,expected", [
    ("/andon", "/andon"), ("//evil.example/x", None), ("/\\evil.example", None),
    ("https://evil.example/", None)])
def test_answer_buttons_return_only_to_pages_of_this_site(floor, logged_in, target, expected):
    call = services.raise_call(floor["operator"], floor["machine"], "stoppage", now=T0)
    db.session.commit()
    browser, _ = logged_in("shift_manager")
    response = browser.post(f"/andon/calls/{call.id}/acknowledge", {"next": target})
    assert redirect_path(response) == (expected or f"/andon/calls/{call.id}")


def test_acknowledging_twice_says_who_did_it_first(floor, new_browser):
    call = services.raise_call(floor["operator"], floor["machine"], "stoppage", now=T0)
    db.session.commit()
    first, second = new_browser(), new_browser()
    first.login(floor["shift_manager"].username, "correct horse battery")
    second.login(floor["maintenance"].username, "correct horse battery")
    first.post(f"/andon/calls/{call.id}/acknowledge", {})
    again = second.post(f"/andon/calls/{call.id}/acknowledge", {}, follow_redirects=True)
    assert "acknowledged already by" in text_of(again)
    db.session.refresh(call)
    assert call.acknowledged_by_id == floor["shift_manager"].id
    assert [e.kind for e in call.events] == ["raised", "acknowledged"]


def test_roles_the_call_escalated_to_may_answer_it(floor):
    db.session.add(EscalationLevel(priority="high", stage="acknowledge", level=1,
                                   after_minutes=5, roles=["quality"]))
    call = services.raise_call(floor["operator"], floor["machine"], "stoppage", now=T0)
    with pytest.raises(Forbidden):
        services.acknowledge(floor["quality"], call, now=T0)
    escalation.escalate_due_calls(T0 + timedelta(minutes=6))
    services.acknowledge(floor["quality"], call, now=T0 + timedelta(minutes=7))
    assert call.acknowledged_by_id == floor["quality"].id


# --- escalation over simulated time -------------------------------------------------------

def test_escalation_climbs_the_ladder_once_per_level(floor):
    escalation.install_default_ladder()
    call = services.raise_call(floor["operator"], floor["machine"], "material", now=T0)
    shift, production, admin = floor["shift_manager"], floor["production_manager"], floor["admin"]
    db.session.commit()

    assert escalation.escalate_due_calls(T0 + timedelta(minutes=4)) == []
    assert call.ack_level == 0 and notified(shift, "escalation") == []

    [first] = escalation.escalate_due_calls(T0 + timedelta(minutes=6))
    assert (first.kind, first.level, call.ack_level) == ("escalated", 1, 1)
    assert "Shift manager" in first.detail
    assert len(notified(shift, "escalation")) == 1
    assert notified(production, "escalation") == []

    [second] = escalation.escalate_due_calls(T0 + timedelta(minutes=16))
    assert second.level == 2 and call.ack_level == 2
    assert len(notified(production, "escalation")) == 1
    assert len(notified(shift, "escalation")) == 1
    # A second run at the same time does nothing.
    assert escalation.escalate_due_calls(T0 + timedelta(minutes=16)) == []
    assert notified(admin, "escalation") == []
    assert [e.level for e in call.events if e.kind == "escalated"] == [1, 2]


def test_escalation_is_published_live_after_commit(floor):
    from app.realtime import pending_events

    escalation.install_default_ladder()
    call = services.raise_call(floor["operator"], floor["machine"], "material", now=T0)
    db.session.commit()
    escalation.escalate_due_calls(T0 + timedelta(minutes=6))
    events = pending_events()
    assert {"event": "andon.changed", "id": call.id, "machine_id": call.machine_id} in events
    assert any(e["event"] == "badges.changed" and "andon" in e["names"] for e in events)


def test_missed_levels_each_fire_and_are_recorded(floor):
    escalation.install_default_ladder()
    call = services.raise_call(floor["operator"], floor["machine"], "quality", now=T0)
    events = escalation.escalate_due_calls(T0 + timedelta(minutes=31))
    assert [e.level for e in events] == [1, 2, 3] and call.ack_level == 3
    for role in ("shift_manager", "production_manager", "admin"):
        assert len(notified(floor[role], "escalation")) == 1


def test_acknowledged_call_stops_climbing_but_resolve_deadline_still_runs(floor):
    escalation.install_default_ladder()
    call = services.raise_call(floor["operator"], floor["machine"], "material", now=T0)
    services.acknowledge(floor["maintenance"], call, now=T0 + timedelta(minutes=3))
    assert escalation.escalate_due_calls(T0 + timedelta(minutes=40)) == []
    assert call.ack_level == 0
    # Medium calls must be resolved within 60 minutes (then shift managers hear of it).
    [late] = escalation.escalate_due_calls(T0 + timedelta(minutes=61))
    assert call.resolve_level == 1 and "not resolved" in late.detail
    assert len(notified(floor["shift_manager"], "escalation")) == 1
    services.resolve(floor["maintenance"], call, now=T0 + timedelta(minutes=70))
    assert escalation.escalate_due_calls(T0 + timedelta(minutes=500)) == []


def test_critical_safety_calls_escalate_faster(floor):
    escalation.install_default_ladder()
    call = services.raise_call(floor["operator"], floor["machine"], "safety", now=T0)
    [event] = escalation.escalate_due_calls(T0 + timedelta(minutes=3))
    assert call.priority == "critical" and event.level == 1


def test_escalation_job_runs_on_the_current_time(floor):
    from app.core.models import utcnow
    from app.jobs.andon import escalate_andon_calls

    escalation.install_default_ladder()
    services.raise_call(floor["operator"], floor["machine"], "material",
                        now=utcnow() - timedelta(minutes=6))
    db.session.commit()
    assert escalate_andon_calls() == 1
    assert escalate_andon_calls() == 0


# --- the ladder page ------------------------------------------------------------------------

def test_empty_ladder_offers_the_recommended_one(logged_in):
    browser, _ = logged_in("production_manager")
    page = text_of(browser.get("/andon/escalation"))
    assert "Use the recommended ladder" in page
    assert browser.post("/andon/escalation/recommended", {}).status_code == 303
    count = db.session.scalar(select(func.count(EscalationLevel.id)))
    assert count == sum(len(steps) for steps in escalation.RECOMMENDED.values())
    browser.post("/andon/escalation/recommended", {})
    assert db.session.scalar(select(func.count(EscalationLevel.id))) == count
    assert "Use the recommended ladder" not in text_of(browser.get("/andon/escalation"))


def level_form(**overrides):
    data = {"priority": "high", "stage": "acknowledge", "level": "2", "after_minutes": "15",
            "roles": ["production_manager"]}
    data.update(overrides)
    return data


@pytest.mark.parametrize("overrides,message", [
    ({"after_minutes": "0"}, "more than 0"),
    ({"after_minutes": "3"}, "more than level 1"),
    ({"level": "1"}, "exists already"),
    ({"roles": []}, "at least one role"),
    ({"roles": ["janitor"]}, "not a valid choice"),
    ({"priority": "urgent"}, "Not a valid choice"),
])
def test_ladder_validation(logged_in, overrides, message):
    escalation.save_level(EscalationLevel(), "high", "acknowledge", 1, 5, ["shift_manager"])
    db.session.commit()
    browser, _ = logged_in("shift_manager")
    response = browser.post("/andon/escalation/new", level_form(**overrides))
    assert response.status_code == 422
    assert message in text_of(response)
    assert db.session.scalar(select(func.count(EscalationLevel.id))) == 1


def test_ladder_add_edit_delete(logged_in):
    browser, _ = logged_in("admin")
    assert browser.post("/andon/escalation/new", level_form(level="1")).status_code == 303
    level = db.session.scalars(select(EscalationLevel)).one()
    assert (level.level, level.after_minutes, level.roles) == (1, 15, ["production_manager"])
    browser.post(f"/andon/escalation/{level.id}/edit",
                 level_form(level="1", after_minutes="7", roles=["shift_manager", "maintenance"]))
    db.session.refresh(level)
    assert level.after_minutes == 7 and level.roles == ["shift_manager", "maintenance"]
    # An edit that breaks the order is refused: level 2 must wait longer than level 1.
    browser.post("/andon/escalation/new", level_form(level="2", after_minutes="20"))
    bad = browser.post(f"/andon/escalation/{level.id}/edit", level_form(level="1",
                                                                       after_minutes="30"))
    assert bad.status_code == 422 and "less than level 2" in text_of(bad)
    confirm = browser.get(f"/andon/escalation/{level.id}/delete")
    assert "Delete this escalation level?" in text_of(confirm)
    level_id = level.id
    assert browser.post(f"/andon/escalation/{level_id}/delete", {}).status_code == 303
    db.session.expire_all()
    assert db.session.get(EscalationLevel, level_id) is None


def test_only_managers_edit_the_ladder(logged_in):
    browser, _ = logged_in("maintenance")
    assert browser.get("/andon/escalation").status_code == 403
    assert browser.post("/andon/escalation/new", level_form()).status_code == 403
    assert db.session.scalar(select(func.count(EscalationLevel.id))) == 0


# --- photos ----------------------------------------------------------------------------------

def test_photo_is_checked_by_content_and_served_only_to_people_who_see_it(
        floor, browser, new_browser, make_user, make_line, app, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    machine = floor["machine"]
    browser.login(floor["operator"].username, "correct horse battery")
    fake = raise_as(browser, machine, "quality",
                    photo=(io.BytesIO(b"MZ this is a program"), "defect.jpg"))
    assert fake.status_code == 422 and "not a photo" in text_of(fake)
    assert calls_on(machine) == []
    assert list((tmp_path / "andon").iterdir()) == []

    ok = raise_as(browser, machine, "quality", photo=(io.BytesIO(png_bytes()), "defect.png"))
    assert ok.status_code == 303
    [call] = calls_on(machine)
    assert call.photo_type == "image/png" and re.fullmatch(r"[0-9a-f]{32}\.png", call.photo_name)
    served = browser.get(f"/andon/calls/{call.id}/photo")
    assert served.status_code == 200 and served.data == png_bytes()
    assert served.headers["X-Content-Type-Options"] == "nosniff"

    stranger = make_user("operator")
    make_line(operators=[stranger])
    other = new_browser()
    other.login(stranger.username, "correct horse battery")
    assert other.get(f"/andon/calls/{call.id}/photo").status_code == 403
    assert other.get(f"/andon/calls/{call.id}").status_code == 403


# --- pages and the banner --------------------------------------------------------------------

def test_board_call_page_and_line_screen(floor, logged_in):
    call = services.raise_call(floor["operator"], floor["machine"], "stoppage", note="Jam",
                               now=T0)
    services.raise_call(floor["operator"], floor["machine"], "material",
                        now=T0 + timedelta(minutes=1))
    db.session.commit()
    browser, _ = logged_in("shift_manager")
    board = text_of(browser.get("/andon/"))
    assert "?resync=andon" in board
    board = board[board.index('id="andon-board"'):]
    assert board.index(f"andon-call-{call.id}") < board.index("Material")
    assert "Acknowledge" in board
    page = text_of(browser.get(f"/andon/calls/{call.id}"))
    assert "/logbook/new?machine=" in page and "source=andon" in page
    assert f"ref={call.id}" in page and "Timeline" in page and "Jam" in page
    line = text_of(browser.get(f"/andon/line/{floor['line'].id}"))
    assert "PRESS-1" in line and 'value="stoppage"' in line


def test_banner_shows_only_calls_the_user_may_see_until_acknowledged(
        floor, make_user, make_line, new_browser):
    services.raise_call(floor["operator"], floor["machine"], "safety", now=T0)
    db.session.commit()
    stranger = make_user("operator")
    make_line(operators=[stranger])

    def banner_of(user):
        b = new_browser()
        b.login(user.username, "correct horse battery")
        html = text_of(b.get("/"))
        return re.search(r'<div id="andon-banner".*?</ul>|<div id="andon-banner"[^>]*>',
                         html, re.S).group(0)

    assert "PRESS-1" in banner_of(floor["operator"])
    assert "PRESS-1" in banner_of(floor["shift_manager"])
    assert "PRESS-1" not in banner_of(stranger)
    [call] = calls_on(floor["machine"])
    services.acknowledge(floor["maintenance"], call)
    db.session.commit()
    assert "PRESS-1" not in banner_of(floor["shift_manager"])


def test_banner_costs_one_statement_however_many_calls(floor, make_machine, count_queries):
    for n in range(4):
        machine = make_machine(code=f"B-{n}", line=floor["line"])
        services.raise_call(floor["operator"], machine, "material", now=T0)
    db.session.commit()
    db.session.expire_all()
    operator = floor["operator"]
    assert operator.role == "operator"  # loaded again before counting
    with count_queries() as statements:
        calls = services.banner_calls(operator)
        codes = [c.machine.code for c in calls]
    assert codes == ["B-0", "B-1", "B-2", "B-3"]
    assert len(statements) == 1


def test_machine_page_partial_links_to_the_andon_screen(floor, logged_in):
    services.raise_call(floor["operator"], floor["machine"], "material", now=T0)
    db.session.commit()
    browser, _ = logged_in("maintenance")
    html = text_of(browser.get(f"/machines/{floor['machine'].id}"))
    assert f'id="andon-machine-{floor["machine"].id}"' in html
    assert "Call for help (andon)" in html and "Material" in html


def test_badge_counts_active_calls_the_user_may_see(floor, make_user, make_line):
    from app.core.badges import badge_counts

    services.raise_call(floor["operator"], floor["machine"], "material", now=T0)
    stranger = make_user("operator")
    make_line(operators=[stranger])
    assert badge_counts(floor["operator"])["andon"] == 1
    assert badge_counts(floor["viewer"])["andon"] == 1
    assert badge_counts(stranger)["andon"] == 0


# --- live ------------------------------------------------------------------------------------

@pytest.mark.live
def test_raised_call_reaches_open_sockets_as_banner_and_board(live_server, make_user,
                                                             make_line, make_machine):
    operator = make_user("operator")
    manager = make_user("shift_manager")
    stranger = make_user("operator")
    make_line(operators=[stranger])
    machine = make_machine(code="LIVE-ANDON", line=make_line(operators=[operator]))
    board, _ = open_socket(live_server, manager.username, "?resync=andon")
    other, _ = open_socket(live_server, stranger.username)
    try:
        call = services.raise_call(operator, machine, "stoppage", note="Belt snapped")
        db.session.commit()
        fragment = receive_until(board, "LIVE-ANDON")
        assert fragment is not None, "no andon fragment within 5 s"
        assert '<div id="andon-banner"' in fragment and 'hx-swap-oob="true"' in fragment
        assert f'id="andon-call-{call.id}"' in fragment and 'id="andon-board"' in fragment
        assert receive_until(other, "LIVE-ANDON", timeout=1) is None

        services.acknowledge(manager, call)
        db.session.commit()
        cleared = receive_until(board, 'id="andon-board"')
        assert cleared is not None and "Acknowledged" in cleared
        banner = cleared.split('id="andon-board"')[0]
        assert "LIVE-ANDON" not in banner
    finally:
        board.close()
        other.close()


@pytest.mark.live
def test_reconnecting_socket_gets_the_current_banner(live_server, make_user, make_line,
                                                     make_machine):
    operator = make_user("operator")
    machine = make_machine(code="WAIT-1", line=make_line(operators=[operator]))
    services.raise_call(operator, machine, "material")
    db.session.commit()
    ws, hello = open_socket(live_server, operator.username)
    ws.close()
    assert '<div id="andon-banner"' in hello and "WAIT-1" in hello


@pytest.mark.live
@pytest.mark.parametrize("page,piece,needle", [
    ("machine:{machine}", 'id="andon-machine-{machine}"', "andon-machine-panel has-calls"),
    ("andon-machine:{machine}", 'id="andon-machine-calls-{machine}"', "Scratches"),
    ("andon-line:{line}", 'id="andon-line-machine-{machine}"', "andon-line-machine has-calls"),
])
def test_open_andon_screens_get_their_piece_live(live_server, make_user, make_line,
                                                 make_machine, page, piece, needle):
    """Each page gets its own piece (the needle is only in it once the call exists, not in
    what the socket sends on connect)."""
    operator = make_user("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="PIECE-1", line=line)
    ids = {"machine": machine.id, "line": line.id}
    ws, _ = open_socket(live_server, operator.username, "?resync=" + page.format(**ids))
    try:
        services.raise_call(operator, machine, "quality", note="Scratches")
        db.session.commit()
        fragment = receive_until(ws, needle)
    finally:
        ws.close()
    assert fragment is not None and piece.format(**ids) in fragment


@pytest.mark.live
def test_call_page_shows_escalation_live(live_server, make_user, make_line, make_machine):
    operator = make_user("operator")
    machine = make_machine(code="ESC-1", line=make_line(operators=[operator]))
    escalation.install_default_ladder()
    call = services.raise_call(operator, machine, "material", now=T0)
    db.session.commit()
    ws, _ = open_socket(live_server, operator.username, f"?resync=andon-call:{call.id}")
    try:
        escalation.escalate_due_calls(T0 + timedelta(minutes=6))
        db.session.commit()
        fragment = receive_until(ws, "Escalated to level 1")
    finally:
        ws.close()
    assert fragment is not None and f'id="andon-call-{call.id}-detail"' in fragment
