"""The caller's own notifications over the API: list (unread filter), mark one, mark all."""

from app.blueprints.notifications.models import Notification
from app.core.extensions import db

URL = "/api/v1/notifications"


def test_list_only_mine_newest_first_with_the_unread_filter(api_as, make_user,
                                                            make_notification):
    api, me = api_as("maintenance")
    first = make_notification(me, title="First")
    second = make_notification(me, title="Second", kind="task_assigned")
    make_notification(make_user("maintenance"), title="Not mine")
    api.post(f"{URL}/{first.id}/read")
    body = api.get(URL).json
    assert [n["title"] for n in body["items"]] == ["Second", "First"]
    assert body["unread"] == 1 and body["total"] == 2
    assert body["items"][1]["read_at"] is not None and body["items"][0]["read_at"] is None
    unread = api.get(f"{URL}?unread=true").json
    assert [n["id"] for n in unread["items"]] == [second.id]
    assert unread["items"][0]["kind"] == "task_assigned"


def test_mark_one_read_and_someone_elses_is_not_found(api_as, make_user, make_notification):
    api, me = api_as("operator")
    mine = make_notification(me)
    theirs = make_notification(make_user("operator"))
    response = api.post(f"{URL}/{mine.id}/read")
    assert response.status_code == 200 and response.json["read_at"]
    assert api.post(f"{URL}/{mine.id}/read").status_code == 200  # again: no change
    refused = api.post(f"{URL}/{theirs.id}/read")
    assert refused.status_code == 404 and refused.json["error"]["code"] == "not_found"
    db.session.expire_all()
    assert db.session.get(Notification, theirs.id).read_at is None


def test_mark_all_read(api_as, make_user, make_notification):
    api, me = api_as("viewer")
    other = make_user("viewer")
    for title in ("a", "b", "c"):
        make_notification(me, title=title)
    make_notification(other)
    response = api.post(f"{URL}/read-all")
    assert response.json == {"marked": 3, "unread": 0}
    assert api.post(f"{URL}/read-all").json == {"marked": 0, "unread": 0}
    db.session.expire_all()
    assert db.session.query(Notification).filter_by(user_id=other.id, read_at=None).count() == 1
