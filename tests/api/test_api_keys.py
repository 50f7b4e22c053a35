"""API keys over the API: made by admins, shown once, acting with their role, revocable."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value

from app.blueprints.auth import keys, services
from app.blueprints.auth.models import ApiKey, User
from app.core.errors import Forbidden
from app.core.extensions import db
from app.core.models import utcnow
from tests.api.conftest import ApiClient, log_in

KEYS = "/api/v1/api-keys"


def _error(response):
    return response.json["error"]["code"]


def _by_key(client, secret, header="Authorization"):
    """An ApiClient whose every call carries the key."""
    value = f"Bearer {secret}" if header == "Authorization" else secret
    return ApiClient(client, None), {header: value}


def _made(api, name="MES line 1", role="viewer"):
    response = api.post(KEYS, json={"name": name, "role": role})
    assert response.status_code == 201, response.json
    return response


def test_an_admin_makes_a_key_and_sees_its_secret_only_once(api_as):
    api, admin = api_as("admin")
    response = _made(api)
    body = response.json
    assert body["key"].startswith(f"flk_{body['hint'][4:-2]}_")
    assert body["role"] == "viewer" and body["active"] is True
    assert body["created_by"]["id"] == admin.id and body["last_used_at"] is None
    assert response.headers["Location"].endswith(f"{KEYS}/{body['id']}")
    again = api.get(f"{KEYS}/{body['id']}").json
    listed = api.get(KEYS).json
    assert "key" not in again and all("key" not in item for item in listed["items"])
    assert [item["name"] for item in listed["items"]] == ["MES line 1"]
    row = db.session.get(ApiKey, body["id"])
    assert body["key"] not in (row.secret_hash, row.prefix)  # only a hash is stored


@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_key_acts_with_its_role_in_either_header(client, api_as, make_machine, header):
    admin_api, _ = api_as("admin")
    secret = _made(admin_api, role="viewer").json["key"]
    machine = make_machine()
    caller, headers = _by_key(client, secret, header)
    listed = caller.get("/api/v1/machines", headers=headers)
    assert listed.status_code == 200 and listed.json["total"] >= 1
    assert caller.get(f"/api/v1/machines/{machine.id}", headers=headers).status_code == 200
    refused = caller.post("/api/v1/machines", headers=headers,
                          json={"code": "X-1", "name": "X", "machine_type_id": 1})
    assert refused.status_code == 403 and _error(refused) == "forbidden"


def test_a_manager_key_creates_and_history_names_the_key(client, api_as, make_machine_type):
    admin_api, _ = api_as("admin")
    secret = _made(admin_api, name="ERP", role="production_manager").json["key"]
    caller, headers = _by_key(client, secret)
    created = caller.post("/api/v1/machines", headers=headers, json={
        "code": "KEY-1", "name": "Made by a key",
        "machine_type_id": make_machine_type().id})
    assert created.status_code == 201
    profile = caller.get("/api/v1/auth/profile", headers=headers).json
    assert profile["full_name"] == "ERP" and profile["role"] == "production_manager"


def test_keys_are_never_admin_or_operator(api_as):
    api, _ = api_as("admin")
    for role in ("admin", "operator", "chief"):
        response = api.post(KEYS, json={"name": f"Key {role}", "role": role})
        assert response.status_code == 422 and "role" in response.json["error"]["fields"]
    assert api.get(KEYS).json["total"] == 0


def test_a_name_is_required_and_unique_among_active_keys(api_as):
    api, _ = api_as("admin")
    blank = api.post(KEYS, json={"name": "   ", "role": "viewer"})
    assert blank.status_code == 422 and "name" in blank.json["error"]["fields"]
    first = _made(api, name="BI").json
    twice = api.post(KEYS, json={"name": "BI", "role": "viewer"})
    assert twice.status_code == 422 and "already named" in twice.json["error"]["fields"]["name"]
    api.post(f"{KEYS}/{first['id']}/revoke")
    assert api.post(KEYS, json={"name": "BI", "role": "viewer"}).status_code == 201


def test_a_revoked_key_is_refused_at_once(client, api_as):
    api, admin = api_as("admin")
    made = _made(api).json
    caller, headers = _by_key(client, made["key"])
    assert caller.get("/api/v1/machines", headers=headers).status_code == 200
    revoked = api.post(f"{KEYS}/{made['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json["active"] is False
    assert revoked.json["revoked_by"]["id"] == admin.id
    refused = caller.get("/api/v1/machines", headers=headers)
    assert refused.status_code == 401 and _error(refused) == "token_revoked"
    again = api.post(f"{KEYS}/{made['id']}/revoke")
    assert again.status_code == 422
    assert api.get(KEYS).json["items"][0]["revoked_at"] is not None


def test_a_wrong_or_malformed_key_is_401(client, api_as):
    api, _ = api_as("admin")
    secret = _made(api).json["key"]
    caller = ApiClient(client, None)
    for bad in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), "flk_", "flk_nothing",
                "flk_" + "x" * 40 + "_y", "flk_abc\x00def_z"):
        response = caller.get("/api/v1/machines", headers={"X-API-Key": bad})
        assert response.status_code == 401 and _error(response) == "invalid_token", bad


def test_x_api_key_takes_only_keys(client, make_user):
    tokens = log_in(client, make_user("viewer").username).json
    response = client.get("/api/v1/machines", headers={"X-API-Key": tokens["access_token"]})
    assert response.status_code == 401 and _error(response) == "invalid_token"


def test_last_use_is_written_at_most_once_a_minute(client, api_as):
    api, _ = api_as("admin")
    made = _made(api).json
    caller, headers = _by_key(client, made["key"])
    caller.get("/api/v1/machines", headers=headers)
    key = db.session.get(ApiKey, made["id"])
    db.session.refresh(key)
    first = key.last_used_at
    assert first is not None
    caller.get("/api/v1/machines", headers=headers)
    db.session.refresh(key)
    assert key.last_used_at == first  # within the minute: not written again
    key.last_used_at = utcnow() - timedelta(minutes=2)
    db.session.commit()
    caller.get("/api/v1/machines", headers=headers)
    db.session.refresh(key)
    assert key.last_used_at > first


def test_touch_writes_once_whoever_races(make_user):
    key, _ = keys.create_api_key(make_user("admin"), "Racer", "viewer")
    db.session.commit()
    stale = db.session.get(ApiKey, key.id)
    assert keys.touch(stale) is True
    # A second process that read the row before the write: its copy says "never used".
    set_committed_value(stale, "last_used_at", None)
    assert keys.touch(stale) is False


def test_a_key_cannot_log_out(client, api_as):
    api, _ = api_as("admin")
    caller, headers = _by_key(client, _made(api).json["key"])
    response = caller.post("/api/v1/auth/logout", headers=headers)
    assert response.status_code == 403
    assert caller.get("/api/v1/machines", headers=headers).status_code == 200


def test_the_key_account_is_no_person(api_as, make_user):
    api, _ = api_as("admin")
    made = _made(api, name="Script", role="shift_manager").json
    account = db.session.get(ApiKey, made["id"]).account
    assert account.service_account and not account.active
    assert services.authenticate(account.username, "!", "127.0.0.1") is None
    people = db.session.scalars(services.search_users(status="all")).all()
    assert account not in people
    manager = make_user("admin")
    with pytest.raises(Forbidden):
        services.set_active(manager, account, True)
    assert db.session.scalar(select(User.id).where(User.id == account.id))


def test_keys_are_for_admins_only(api_as):
    for role in ("production_manager", "shift_manager", "viewer"):
        api, _ = api_as(role)
        assert api.get(KEYS).status_code == 403
        assert api.post(KEYS, json={"name": "Mine", "role": "viewer"}).status_code == 403
    assert db.session.scalar(select(ApiKey.id)) is None


def test_a_retried_key_creation_makes_one_key_and_keeps_no_secret(app, api_as):
    from app.core.extensions import redis_client

    api, admin = api_as("admin")
    headers = {"Idempotency-Key": "new-key-1"}
    first = api.post(KEYS, json={"name": "MES", "role": "viewer"}, headers=headers)
    assert first.status_code == 201 and first.headers["Cache-Control"] == "no-store"
    again = api.post(KEYS, json={"name": "MES", "role": "viewer"}, headers=headers)
    assert again.status_code == 409
    assert again.json["error"]["code"] == "idempotency_answer_not_kept"
    assert again.headers["Location"] == first.headers["Location"]
    assert api.get(KEYS).json["total"] == 1
    prefix = app.config["API_REDIS_PREFIX"]
    stored = [redis_client().get(k) for k in
              redis_client().scan_iter(f"{prefix}:idempotency:user:{admin.id}:*")]
    assert stored and not any(first.json["key"].encode() in value for value in stored)
