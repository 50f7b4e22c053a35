"""The API keys page (administrators): list, make (the key shown once), revoke with a
confirmation. The role table (tests/test_routes_by_role.py) keeps everyone else out."""

import re

from sqlalchemy import func, select

from app.blueprints.auth import keys
from app.blueprints.auth.models import ApiKey
from app.core.extensions import db
from tests.helpers import text_of

PAGE = "/auth/api-keys"


def _shown_key(response):
    return re.search(r'id="new-api-key">([^<]+)<', text_of(response)).group(1)


def test_an_empty_list_says_what_keys_are_for(logged_in):
    browser, _ = logged_in("admin")
    page = text_of(browser.get(PAGE))
    assert "No API keys yet." in page and 'href="/auth/api-keys/new"' in page


def test_make_a_key_see_it_once_and_use_it(logged_in, client):
    browser, admin = logged_in("admin")
    form = text_of(browser.get(f"{PAGE}/new"))
    assert 'value="viewer"' in form and 'value="admin"' not in form
    assert 'value="operator"' not in form
    made = browser.post(f"{PAGE}/new", {"name": "MES line 1", "role": "shift_manager"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    secret = _shown_key(made)
    assert secret.startswith("flk_") and 'data-copy="new-api-key"' in text_of(made)
    listed = text_of(browser.get(PAGE))
    assert "MES line 1" in listed and "Shift manager" in listed and "Never" in listed
    assert secret not in listed and keys.find_key(secret).hint in listed
    answer = client.get("/api/v1/machines", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 200
    assert admin.username in text_of(browser.get(PAGE))  # made by


def test_bad_input_shows_the_form_again_and_makes_nothing(logged_in):
    browser, _ = logged_in("admin")
    blank = browser.post(f"{PAGE}/new", {"name": "", "role": "viewer"})
    assert blank.status_code == 422
    admin_key = browser.post(f"{PAGE}/new", {"name": "Root", "role": "admin"})
    assert admin_key.status_code == 422 and "Not a valid choice" in text_of(admin_key)
    assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 0


def test_revoking_asks_first_then_the_key_stops_working(logged_in, client):
    browser, _ = logged_in("admin")
    secret = _shown_key(browser.post(f"{PAGE}/new", {"name": "Script", "role": "viewer"}))
    key = keys.find_key(secret)
    confirm = browser.get(f"{PAGE}/{key.id}/revoke")
    assert confirm.status_code == 200 and "Revoke the key" in text_of(confirm)
    assert keys.find_key(secret).revoked_at is None  # the GET changed nothing
    done = browser.post(f"{PAGE}/{key.id}/revoke")
    assert done.status_code == 302 and done.headers["Location"].endswith(PAGE)
    db.session.expire_all()
    assert keys.find_key(secret).revoked_at is not None
    assert "Revoked" in text_of(browser.get(PAGE))
    refused = client.get("/api/v1/machines", headers={"X-API-Key": secret})
    assert refused.status_code == 401
    again = browser.post(f"{PAGE}/{key.id}/revoke")
    assert again.status_code == 302  # already revoked: said so, nothing else


def test_an_unknown_key_is_404(logged_in):
    browser, _ = logged_in("admin")
    assert browser.get(f"{PAGE}/999999/revoke").status_code == 404


def test_the_navigation_shows_api_keys_to_admins_only(logged_in, new_browser, make_user):
    browser, _ = logged_in("admin")
    assert 'href="/auth/api-keys"' in text_of(browser.get("/"))
    manager = new_browser()
    user = make_user("production_manager")
    manager.login(user.username, "correct horse battery")
    assert 'href="/auth/api-keys"' not in text_of(manager.get("/"))
    assert manager.get(PAGE).status_code == 403
