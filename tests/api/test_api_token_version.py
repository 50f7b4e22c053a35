"""Every change of a user's role, password or active state ends their API tokens at once
(the token carries the user's session_version; each of these bumps it), whether made on
the People pages or by the services the pages and the API share."""

import pytest

from app.blueprints.auth import services
from app.blueprints.auth.models import User
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from tests.api.conftest import ApiClient, log_in
from tests.helpers import PASSWORD

PROFILE = "/api/v1/auth/profile"
NEW_PASSWORD = "yellow piano rain"


def _token_of(client, user):
    api = ApiClient(client, log_in(client, user.username).json)
    assert api.get(PROFILE).status_code == 200
    return api


def _revoked(api):
    response = api.get(PROFILE)
    return response.status_code == 401 and response.json["error"]["code"] == "token_revoked"


# page URL under /auth/users/<id>/ → the form it sends
MANAGER_PAGES = {
    "deactivate": {},
    "reset-password": {},
    "role": {"role": "maintenance"},
}


@pytest.mark.parametrize("page", MANAGER_PAGES)
def test_a_managers_change_on_the_people_pages_kills_the_tokens(client, logged_in, make_user,
                                                                 page):
    manager, _ = logged_in("shift_manager")
    target = make_user("operator")
    api = _token_of(client, target)
    response = manager.post(f"/auth/users/{target.id}/{page}", MANAGER_PAGES[page])
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:300]
    assert _revoked(api)


def test_a_role_change_takes_effect_on_the_next_login(client, logged_in, make_user):
    manager, _ = logged_in("production_manager")
    target = make_user("viewer")
    api = _token_of(client, target)
    page = manager.get(f"/auth/users/{target.id}/role")
    assert page.status_code == 200 and "Change role" in page.get_data(as_text=True)
    assert manager.post(f"/auth/users/{target.id}/role",
                        {"role": "maintenance"}).status_code == 302
    assert _revoked(api)
    fresh = ApiClient(client, log_in(client, target.username).json)
    assert fresh.get(PROFILE).json["role"] == "maintenance"


def test_the_role_page_offers_and_accepts_only_roles_the_manager_may_give(logged_in,
                                                                          make_user):
    manager, _ = logged_in("shift_manager")
    target = make_user("operator")
    page = manager.get(f"/auth/users/{target.id}/role").get_data(as_text=True)
    assert 'value="quality"' in page and 'value="admin"' not in page
    refused = manager.post(f"/auth/users/{target.id}/role", {"role": "admin"})
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, target.id).role == "operator"


def test_the_same_role_again_changes_nothing(make_user):
    admin, target = make_user("admin"), make_user("engineer")
    version = target.session_version
    services.change_role(admin, target, "engineer")
    assert target.session_version == version


def test_change_role_keeps_the_managers_limits(make_user):
    manager, target = make_user("shift_manager"), make_user("operator")
    with pytest.raises(Forbidden):
        services.change_role(manager, target, "production_manager")
    with pytest.raises(Forbidden):
        services.change_role(manager, make_user("engineer"), "viewer")
    with pytest.raises(ValidationFailed):
        services.change_role(make_user("admin"), target, "chief")


def test_reactivating_does_not_revive_old_tokens(client, make_user):
    manager, target = make_user("admin"), make_user("quality")
    api = _token_of(client, target)
    services.set_active(manager, target, False)
    services.set_active(manager, target, True)
    db.session.commit()
    assert _revoked(api)


def test_changing_ones_own_password_ends_the_tokens_but_not_this_page(client, logged_in):
    browser, user = logged_in("maintenance")
    api = _token_of(client, user)
    response = browser.post("/auth/profile/password", {"current_password": PASSWORD,
                                                       "password": NEW_PASSWORD,
                                                       "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert _revoked(api)
    assert browser.get("/auth/profile").status_code == 200  # still logged in here
    assert log_in(client, user.username, NEW_PASSWORD).status_code == 200


def test_changing_ones_own_password_logs_out_the_other_browsers(logged_in, new_browser):
    browser, user = logged_in("engineer")
    other = new_browser()
    assert other.login(user.username, PASSWORD).status_code == 302
    browser.post("/auth/profile/password", {"current_password": PASSWORD,
                                            "password": NEW_PASSWORD,
                                            "confirm": NEW_PASSWORD})
    assert "/auth/login" in other.get("/").headers.get("Location", "")
    assert browser.get("/").status_code == 200
