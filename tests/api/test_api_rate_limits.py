"""Rate limits: calls a minute per user or API key, per address without a credential; the
ingest webhook only when the plant sets its own limit. Limits are lowered per test."""

import json
import secrets

import pytest

from app.blueprints.api.ingest import signature_for
from app.blueprints.auth import keys
from app.core.extensions import db
from tests.api.conftest import ApiClient, log_in

MACHINES = "/api/v1/machines"


@pytest.fixture
def limit(app, monkeypatch):
    """`limit(3)`: three API calls a minute per caller for this test. Counters start
    empty: ids restart when a test truncates the tables, so `user:1` may have been counted
    by an earlier test within the minute."""
    monkeypatch.setitem(app.config, "API_REDIS_PREFIX",
                        f"{app.config['API_REDIS_PREFIX']}:{secrets.token_hex(4)}")

    def set_limit(per_minute, name="API_RATE_LIMIT_PER_MINUTE"):
        monkeypatch.setitem(app.config, name, per_minute)
    return set_limit


def _address():
    """An address of this test's own, so no other test's calls count in its bucket."""
    return {"REMOTE_ADDR": f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}."
                           f"{secrets.randbelow(250) + 1}"}


def test_the_fourth_call_of_three_is_429_with_retry_after(api_as, limit):
    limit(3)
    api, _ = api_as("viewer")
    answers = [api.get(MACHINES) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(a.headers["RateLimit-Limit"] == "3" for a in answers)
    assert answers[0].headers["RateLimit-Policy"] == "3;w=60"
    refused = answers[-1]
    assert refused.json["error"]["code"] == "too_many_requests"
    assert "3 calls a minute" in refused.json["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]


def test_each_user_has_a_bucket_of_their_own(api_as, limit):
    limit(2)
    first, _ = api_as("viewer")
    second, _ = api_as("viewer")
    assert [first.get(MACHINES).status_code for _ in range(3)] == [200, 200, 429]
    assert second.get(MACHINES).status_code == 200


def test_a_new_login_does_not_refill_the_bucket(client, api_as, limit):
    limit(2)
    api, user = api_as("viewer")
    api.get(MACHINES)
    api.get(MACHINES)
    again = ApiClient(client, log_in(client, user.username, environ_base=_address()).json)
    assert again.get(MACHINES).status_code == 429


def test_an_api_key_counts_on_its_own(client, api_as, make_user, limit):
    _, secret = keys.create_api_key(make_user("admin"), "BI", "viewer")
    db.session.commit()
    limit(2)
    headers = {"X-API-Key": secret}
    answers = [client.get(MACHINES, headers=headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    person, _ = api_as("viewer")
    assert person.get(MACHINES).status_code == 200


def test_calls_without_a_valid_credential_count_per_address(client, limit):
    limit(2, "API_ANONYMOUS_RATE_LIMIT_PER_MINUTE")
    here, there = _address(), _address()
    answers = [client.get(MACHINES, environ_base=here,
                          headers={"Authorization": "Bearer nonsense"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert client.get(MACHINES, environ_base=there).status_code == 401


def test_logins_count_per_address(client, make_user, limit):
    limit(3, "API_ANONYMOUS_RATE_LIMIT_PER_MINUTE")
    user, here = make_user("viewer"), _address()
    answers = [client.post("/api/v1/auth/login", environ_base=here,
                           json={"username": user.username, "password": "wrong"})
               for _ in range(4)]
    assert [a.status_code for a in answers] == [401, 401, 401, 429]


def test_zero_switches_a_limit_off(api_as, limit):
    limit(0)
    api, _ = api_as("viewer")
    response = api.get(MACHINES)
    assert response.status_code == 200 and "RateLimit-Limit" not in response.headers


def _batch(client, address):
    body = json.dumps({"readings": []}).encode()
    return client.post("/api/v1/ingest", data=body, environ_base=address, headers={
        "Content-Type": "application/json",
        "X-Floorline-Signature": signature_for("test-ingest-key", body)})


def test_the_ingest_webhook_is_not_limited_by_the_api_limits(client, limit):
    limit(1)
    limit(1, "API_ANONYMOUS_RATE_LIMIT_PER_MINUTE")
    address = _address()
    answers = [_batch(client, address) for _ in range(5)]
    assert {a.status_code for a in answers} == {202}
    assert "RateLimit-Limit" not in answers[0].headers


def test_the_ingest_webhook_has_its_own_limit_when_set(client, limit):
    limit(2, "API_INGEST_RATE_LIMIT_PER_MINUTE")
    address = _address()
    answers = [_batch(client, address) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert set(answers[-1].json) == {"error"}  # the webhook's own error shape
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert _batch(client, _address()).status_code == 202  # another gateway


def test_the_login_throttle_keeps_its_own_retry_after(app, client, make_user):
    user, here = make_user("viewer"), _address()
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_USER"]):
        client.post("/api/v1/auth/login", environ_base=here,
                    json={"username": user.username, "password": "wrong"})
    locked = client.post("/api/v1/auth/login", environ_base=here,
                         json={"username": user.username, "password": "wrong"})
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == str(app.config["LOGIN_LOCKOUT_MINUTES"] * 60)
