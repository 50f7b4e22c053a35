"""The notification centre: who is told, the unread badge, reading, and live delivery."""

import pytest

from app.blueprints.notifications import services
from app.blueprints.notifications.models import Notification
from app.core.extensions import db
from app.realtime import pending_events
from tests.helpers import open_socket, receive_until, text_of


def test_notify_tells_each_active_person_once_and_not_the_actor(make_user):
    manager, operator, actor = make_user("shift_manager"), make_user(), make_user()
    gone = make_user(active=False)
    made = services.notify([manager, operator, operator, actor, gone, None], "alert",
                           "Hot", "/x", exclude=actor)
    assert sorted(n.user_id for n in made) == sorted([manager.id, operator.id])
    events = [e["event"] for e in pending_events()]
    assert "notification.created" in events and "badges.changed" in events


def test_unknown_kind_is_refused(make_user):
    with pytest.raises(ValueError, match="unknown notification kind"):
        services.notify([make_user()], "gossip", "Hot", "/x")


def test_nobody_to_tell_makes_nothing_and_publishes_nothing():
    assert services.notify([], "alert", "Hot", "/x") == []
    assert pending_events() == []


def test_people_of_machine_are_managers_and_its_operators(make_user, make_machine,
                                                          make_line):
    manager, admin = make_user("production_manager"), make_user("admin")
    direct, via_line, elsewhere = make_user(), make_user(), make_user()
    make_user("maintenance")
    machine = make_machine(line=make_line(operators=[via_line]), operators=[direct])
    people = {u.id for u in services.people_of_machine(machine)}
    assert people == {manager.id, admin.id, direct.id, via_line.id}
    assert elsewhere.id not in people


def test_link_builds_paths_outside_a_request(app):
    with app.app_context():
        assert services.link("notifications.open_one", notification_id=7) == \
            "/notifications/7"


def test_centre_lists_only_my_notifications_newest_first(logged_in, make_user, make_notification):
    browser, me = logged_in("operator")
    make_notification(me, title="Older one")
    make_notification(me, title="Newer one")
    make_notification(make_user(), title="Someone else's")
    html = text_of(browser.get("/notifications/"))
    assert html.index("Newer one") < html.index("Older one")
    assert "Someone else" not in html
    assert 'id="badge-notifications"' in html and ">2</span>" in html


def test_empty_centre_says_what_will_appear(logged_in):
    browser, _ = logged_in("maintenance")
    html = text_of(browser.get("/notifications/"))
    assert "No notifications yet." in html


def test_opening_one_marks_it_read_and_goes_to_its_object(logged_in, make_notification):
    browser, me = logged_in("shift_manager")
    item = make_notification(me, url="/logbook/")
    response = browser.get(f"/notifications/{item.id}")
    assert response.status_code == 302 and response.headers["Location"].endswith("/logbook/")
    db.session.refresh(item)
    assert item.read_at is not None
    assert services.unread_count(me) == 0


def test_someone_elses_notification_is_not_found(logged_in, make_user, make_notification):
    browser, _ = logged_in("admin")
    theirs = make_notification(make_user())
    assert browser.get(f"/notifications/{theirs.id}").status_code == 404
    assert browser.post(f"/notifications/{theirs.id}/read").status_code == 404
    db.session.refresh(theirs)
    assert theirs.read_at is None


def test_mark_one_and_mark_all_read(logged_in, make_notification):
    browser, me = logged_in("operator")
    first = make_notification(me, title="First")
    make_notification(me, title="Second")
    make_notification(me, title="Third")
    assert browser.post(f"/notifications/{first.id}/read").status_code == 302
    assert services.unread_count(me) == 2
    unread = text_of(browser.get("/notifications/?show=unread"))
    assert "First" not in unread and "Second" in unread
    response = browser.post("/notifications/read-all", follow_redirects=True)
    assert "Marked 2 notifications read." in text_of(response)
    assert services.unread_count(me) == 0
    assert "Nothing unread." in text_of(browser.get("/notifications/?show=unread"))


def test_mark_read_without_the_form_token_changes_nothing(logged_in, make_notification):
    browser, me = logged_in("operator")
    item = make_notification(me)
    response = browser.post(f"/notifications/{item.id}/read", csrf=False)
    assert response.status_code == 400
    assert services.unread_count(me) == 1


def test_long_lists_are_paged(logged_in):
    browser, me = logged_in("operator")
    db.session.add_all([Notification(user_id=me.id, kind="alert", title=f"Alert {i:02}",
                                     url="/") for i in range(services.PAGE_SIZE + 5)])
    db.session.commit()
    first = text_of(browser.get("/notifications/"))
    second = text_of(browser.get("/notifications/?page=2"))
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count('class="notification ') == services.PAGE_SIZE
    assert second.count('class="notification ') == 5


@pytest.mark.live
def test_a_new_notification_reaches_my_open_centre_and_badge(live_server, make_user):
    me, other = make_user("shift_manager"), make_user("shift_manager")
    ws, hello = open_socket(live_server, me.username, "?resync=notifications")
    try:
        assert 'id="badge-notifications"' in hello  # the count on connect
        services.notify([me], "escalation", "Andon call on CNC-01 escalated", "/andon")
        services.notify([other], "alert", "Not for me", "/")
        db.session.commit()
        item = receive_until(ws, "Andon call on CNC-01 escalated")
        badge = receive_until(ws, 'id="badge-notifications"')
    finally:
        ws.close()
    assert item is not None and 'hx-swap-oob="afterbegin:#notification-items"' in item
    assert "Not for me" not in item
    assert badge is not None and ">1</span>" in badge


@pytest.mark.live
def test_the_first_notification_replaces_the_empty_message_live(live_server, make_user):
    me = make_user("maintenance")
    ws, _hello = open_socket(live_server, me.username, "?resync=notifications")
    try:
        services.notify([me], "task_assigned", "Task for CNC-01: grease", "/tasks/")
        db.session.commit()
        item = receive_until(ws, "Task for CNC-01: grease")
    finally:
        ws.close()
    assert item is not None
    assert '<div id="notifications-empty" hx-swap-oob="delete"></div>' in item
