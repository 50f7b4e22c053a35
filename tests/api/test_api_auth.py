"""API tokens: login, refresh rotation and reuse, logout, expiry, deactivation, setup."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from app.blueprints.auth import services
from app.core.extensions import db
from tests.api.conftest import ApiClient, log_in
from tests.helpers import PASSWORD

PROFILE = "/api/v1/auth/profile"


def _error(response):
    return response.json["error"]["code"]


@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/token/"])
def test_login_gives_an_access_and_a_refresh_token(client, make_user, path):
    user = make_user("shift_manager")
    response = log_in(client, user.username, path=path)
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer" and body["expires_in"] == 15 * 60
    assert body["refresh_expires_in"] == 12 * 3600
    profile = ApiClient(client, body).get(PROFILE)
    assert profile.status_code == 200 and profile.json["username"] == user.username
    assert profile.json["role"] == "shift_manager" and profile.headers["ETag"]


def test_wrong_password_is_401_and_throttled_like_the_page(app, client, browser, make_user):
    user = make_user("operator")
    limit = app.config["LOGIN_MAX_FAILURES_PER_USER"]
    for _ in range(limit):
        response = log_in(client, user.username, "not the password")
        assert response.status_code == 401 and _error(response) == "invalid_credentials"
    response = log_in(client, user.username)
    assert response.status_code == 429 and _error(response) == "too_many_requests"
    assert int(response.headers["Retry-After"]) == app.config["LOGIN_LOCKOUT_MINUTES"] * 60
    # The web login counts the same failures.
    assert browser.login(user.username, PASSWORD).status_code == 429


def test_no_token_or_a_bad_one_is_401(client, make_user):
    assert _error(client.get(PROFILE)) == "unauthorized"
    response = client.get(PROFILE, headers={"Authorization": "Bearer nonsense"})
    assert response.status_code == 401 and _error(response) == "invalid_token"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_refresh_token_is_not_an_access_token(client, make_user):
    tokens = log_in(client, make_user("viewer").username).json
    response = client.get(PROFILE, headers={
        "Authorization": f"Bearer {tokens['refresh_token']}"})
    assert response.status_code == 401 and _error(response) == "invalid_token"


@pytest.mark.parametrize("path", ["/api/v1/auth/refresh", "/api/v1/token/refresh/"])
def test_refresh_rotates_and_a_reused_token_revokes_the_family(client, make_user, path):
    first = log_in(client, make_user("engineer").username).json
    second = client.post(path, json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    assert ApiClient(client, second.json).get(PROFILE).status_code == 200
    # The spent refresh token comes back: stolen or replayed, so the whole login ends.
    replay = client.post(path, json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and _error(replay) == "refresh_token_reused"
    assert _error(ApiClient(client, second.json).get(PROFILE)) == "token_revoked"
    newest = client.post(path, json={"refresh_token": second.json["refresh_token"]})
    assert newest.status_code == 401 and _error(newest) == "token_revoked"


def test_logout_revokes_access_and_refresh_at_once(client, make_user):
    tokens = log_in(client, make_user("quality").username).json
    api = ApiClient(client, tokens)
    assert api.post("/api/v1/auth/logout").status_code == 204
    assert _error(api.get(PROFILE)) == "token_revoked"
    refresh = client.post("/api/v1/auth/refresh",
                          json={"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401 and _error(refresh) == "token_revoked"


def test_logout_ends_only_that_login(client, make_user):
    user = make_user("maintenance")
    phone = ApiClient(client, log_in(client, user.username).json)
    tablet = ApiClient(client, log_in(client, user.username).json)
    phone.post("/api/v1/auth/logout")
    assert tablet.get(PROFILE).status_code == 200


def _crafted(app, tokens, **changes):
    """The access token with some claims changed, signed with the app's key."""
    claims = jwt.decode(tokens["access_token"], app.config["JWT_SECRET_KEY"],
                        algorithms=["HS256"])
    return jwt.encode({**claims, **changes}, app.config["JWT_SECRET_KEY"], algorithm="HS256")


def test_an_expired_access_token_is_refused(app, client, make_user):
    tokens = log_in(client, make_user("viewer").username).json
    past = datetime.now(UTC) - timedelta(minutes=1)
    expired = _crafted(app, tokens, exp=past)
    response = client.get(PROFILE, headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401 and _error(response) == "token_expired"


def test_a_token_signed_with_another_key_is_refused(app, client, make_user):
    tokens = log_in(client, make_user("viewer").username).json
    claims = jwt.decode(tokens["access_token"], app.config["JWT_SECRET_KEY"],
                        algorithms=["HS256"])
    forged = jwt.encode(claims, "another key, just as long as the real one", algorithm="HS256")
    response = client.get(PROFILE, headers={"Authorization": f"Bearer {forged}"})
    assert _error(response) == "invalid_token"


def test_deactivation_and_password_reset_kill_tokens_at_once(client, make_user):
    manager = make_user("shift_manager")
    for change in (lambda u: services.set_active(manager, u, False),
                   lambda u: services.reset_password(manager, u)):
        user = make_user("operator")
        api = ApiClient(client, log_in(client, user.username).json)
        assert api.get(PROFILE).status_code == 200
        change(user)
        db.session.commit()
        assert _error(api.get(PROFILE)) == "token_revoked"


def test_deactivated_user_cannot_log_in(client, make_user):
    user = make_user("operator", active=False)
    response = log_in(client, user.username)
    assert response.status_code == 403 and _error(response) == "account_inactive"


def test_one_time_password_must_be_changed_first(client, make_user):
    manager = make_user("shift_manager")
    user, password = services.create_user(manager, "operator", full_name="New Person")
    db.session.commit()
    response = log_in(client, user.username, password)
    assert response.status_code == 403 and _error(response) == "password_change_required"


def test_profile_must_be_filled_in_before_anything_else(client, make_user):
    user = make_user("operator", profile_completed_at=None)
    db.session.commit()
    api = ApiClient(client, log_in(client, user.username).json)
    machines = api.get("/api/v1/machines")
    assert machines.status_code == 403 and _error(machines) == "profile_required"
    profile = api.get(PROFILE)
    response = api.put(PROFILE, json={"full_name": "Ada Operator", "shift": "early"},
                       headers={"If-Match": profile.headers["ETag"]})
    assert response.status_code == 200, response.json
    assert response.json["full_name"] == "Ada Operator"
    assert response.json["profile_completed_at"].endswith("+00:00")
    assert api.get("/api/v1/machines").status_code == 200


def test_profile_update_uses_auth_rules_and_etags(client, make_user):
    make_user("viewer", employee_number="E-1")
    api, _ = _logged_in(client, make_user("viewer"))
    etag = api.get(PROFILE).headers["ETag"]
    missing = api.put(PROFILE, json={"full_name": "V"})
    assert missing.status_code == 428 and _error(missing) == "precondition_required"
    taken = api.put(PROFILE, json={"full_name": "V", "employee_number": "E-1"},
                    headers={"If-Match": etag})
    assert taken.status_code == 422 and "employee_number" in taken.json["error"]["fields"]
    assert api.put(PROFILE, json={"full_name": "V"},
                   headers={"If-Match": etag}).status_code == 200
    stale = api.put(PROFILE, json={"full_name": "W"}, headers={"If-Match": etag})
    assert stale.status_code == 412 and _error(stale) == "precondition_failed"


def _logged_in(client, user):
    return ApiClient(client, log_in(client, user.username).json), user


def test_an_expired_refresh_token_is_refused(app, client, make_user):
    tokens = log_in(client, make_user("viewer").username).json
    claims = jwt.decode(tokens["refresh_token"], app.config["JWT_SECRET_KEY"],
                        algorithms=["HS256"])
    claims["exp"] = datetime.now(UTC) - timedelta(seconds=1)
    expired = jwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": expired})
    assert response.status_code == 401 and _error(response) == "token_expired"


def test_token_lifetimes_come_from_the_config(app, client, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "API_ACCESS_TOKEN_MINUTES", 1)
    tokens = log_in(client, make_user("viewer").username).json
    claims = jwt.decode(tokens["access_token"], app.config["JWT_SECRET_KEY"],
                        algorithms=["HS256"])
    assert claims["exp"] - claims["iat"] == 60 and tokens["expires_in"] == 60
