"""People over the API, for managers as on /auth/users: list, get, create with a one-time
password shown once, assignments, reset, deactivate; never a password hash."""

import json

from app.blueprints.auth.models import User
from app.core.extensions import db
from tests.api.conftest import ApiClient, log_in

URL = "/api/v1/users"


def _etag(api, url):
    return {"If-Match": api.get(url).headers["ETag"]}


def test_list_filters_and_never_shows_a_hash(api_as, make_user):
    api, _ = api_as("production_manager")
    make_user("operator", username="op-anna", full_name="Anna Berg")
    make_user("quality", username="qa-bert")
    make_user("operator", username="op-gone", active=False)
    body = api.get(f"{URL}?role=operator").json
    assert [u["username"] for u in body["items"]] == ["op-anna"]
    assert [u["username"] for u in api.get(f"{URL}?status=inactive").json["items"]] == \
        ["op-gone"]
    assert [u["username"] for u in api.get(f"{URL}?q=berg").json["items"]] == ["op-anna"]
    text = json.dumps(api.get(f"{URL}?status=all&per_page=100").json)
    assert "password_hash" not in text and "pbkdf2" not in text and "scrypt" not in text


def test_create_shows_the_one_time_password_once(client, api_as, make_line):
    api, manager = api_as("shift_manager")
    line = make_line()
    response = api.post(URL, json={"role": "operator", "full_name": "Cem Dogan",
                                   "shift": "early", "line_ids": [line.id]})
    assert response.status_code == 201, response.json
    assert response.headers["Cache-Control"] == "no-store"
    created, password = response.json["user"], response.json["one_time_password"]
    assert created["must_change_password"] and created["line_ids"] == [line.id]
    assert created["shift"] == "early" and created["manageable"]
    user = db.session.get(User, created["id"])
    assert user.created_by_id == manager.id
    first = log_in(client, created["username"], password)
    assert first.status_code == 403
    assert first.json["error"]["code"] == "password_change_required"
    again = api.get(f"{URL}/{created['id']}").json
    assert "one_time_password" not in again and "password_hash" not in again


def test_a_manager_may_not_create_or_manage_managers(api_as, make_user):
    api, manager = api_as("shift_manager")
    refused = api.post(URL, json={"role": "admin"})
    assert refused.status_code == 403
    admin = make_user("admin")
    assert api.post(f"{URL}/{admin.id}/deactivate").status_code == 403
    assert api.post(f"{URL}/{manager.id}/deactivate").status_code == 403  # not oneself
    assert api.get(f"{URL}/{admin.id}").json["manageable"] is False
    bad = api.post(URL, json={"role": "operator", "line_ids": [999999]})
    assert bad.status_code == 422 and "line_ids" in bad.json["error"]["fields"]


def test_assignments_change_with_if_match(api_as, make_user, make_machine):
    api, _ = api_as("admin")
    operator = make_user("operator")
    machine = make_machine()
    url = f"{URL}/{operator.id}"
    assert api.patch(url, json={"machine_ids": [machine.id]}).status_code == 428
    response = api.patch(url, json={"machine_ids": [machine.id], "shift": "night"},
                         headers=_etag(api, url))
    assert response.status_code == 200
    assert response.json["machine_ids"] == [machine.id] and response.json["shift"] == "night"


def test_deactivate_ends_the_tokens_and_reactivate(client, api_as, make_user):
    api, _ = api_as("production_manager")
    operator = make_user("operator")
    their = ApiClient(client, log_in(client, operator.username).json)
    assert their.get("/api/v1/machines").status_code == 200
    response = api.post(f"{URL}/{operator.id}/deactivate")
    assert response.status_code == 200 and response.json["active"] is False
    assert their.get("/api/v1/machines").json["error"]["code"] == "token_revoked"
    assert api.post(f"{URL}/{operator.id}/reactivate").json["active"] is True


def test_reset_password(client, api_as, make_user):
    api, _ = api_as("admin")
    engineer = make_user("engineer")
    response = api.post(f"{URL}/{engineer.id}/reset-password")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = response.json["one_time_password"]
    assert log_in(client, engineer.username, password).json["error"]["code"] == \
        "password_change_required"
