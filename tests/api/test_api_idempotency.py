"""Idempotency-Key on every POST of the API: a retried create makes nothing twice."""

import io
import threading
import time

import pytest
import requests
from PIL import Image
from sqlalchemy import func, select, text

from app.blueprints.andon.models import AndonCall
from app.blueprints.logbook import services
from app.blueprints.logbook.models import Attachment
from app.blueprints.machines.models import Machine
from app.core.extensions import db, redis_client
from tests.api.conftest import ApiClient, log_in

MACHINES = "/api/v1/machines"
KEY = "Idempotency-Key"


def _machines(code):
    return db.session.scalar(select(func.count()).select_from(Machine)
                             .where(Machine.code == code))


@pytest.fixture
def manager_api(api_as):
    return api_as("production_manager")[0]


def _new_machine(machine_type, code="IDEM-1", **extra):
    return {"code": code, "name": "Press", "machine_type_id": machine_type.id, **extra}


def test_the_same_post_again_replays_the_first_answer(manager_api, make_machine_type):
    body = _new_machine(make_machine_type())
    first = manager_api.post(MACHINES, json=body, headers={KEY: "k-1"})
    again = manager_api.post(MACHINES, json=body, headers={KEY: "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert _machines("IDEM-1") == 1


def test_the_body_is_compared_by_meaning_not_bytes(manager_api, make_machine_type):
    machine_type = make_machine_type()
    first = manager_api.post(MACHINES, headers={KEY: "k-2", "Content-Type": "application/json"},
                             data=f'{{"code": "IDEM-2", "name": "Press", '
                                  f'"machine_type_id": {machine_type.id}}}')
    again = manager_api.post(MACHINES, headers={KEY: "k-2", "Content-Type": "application/json"},
                             data=f'{{"machine_type_id":{machine_type.id},"name":"Press",'
                                  f'"code":"IDEM-2"}}')
    assert first.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"


def test_the_same_key_with_another_body_is_422(manager_api, make_machine_type):
    machine_type = make_machine_type()
    manager_api.post(MACHINES, json=_new_machine(machine_type), headers={KEY: "k-3"})
    other = manager_api.post(MACHINES, json=_new_machine(machine_type, code="IDEM-OTHER"),
                             headers={KEY: "k-3"})
    assert other.status_code == 422
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert KEY in other.json["error"]["fields"]
    assert _machines("IDEM-OTHER") == 0


def test_the_same_key_on_another_endpoint_is_422(manager_api, make_machine_type,
                                                 make_machine):
    machine = make_machine()
    manager_api.post(MACHINES, json=_new_machine(make_machine_type()), headers={KEY: "k-4"})
    call = manager_api.post("/api/v1/andon/events", headers={KEY: "k-4"},
                            json={"machine_id": machine.id, "kind": "material"})
    assert call.status_code == 422 and call.json["error"]["code"] == "idempotency_key_reused"


def test_keys_are_per_caller(client, api_as, make_machine_type):
    machine_type = make_machine_type()
    first, _ = api_as("production_manager")
    second, _ = api_as("shift_manager")
    assert first.post(MACHINES, json=_new_machine(machine_type, code="A-1"),
                      headers={KEY: "shared"}).status_code == 201
    other = second.post(MACHINES, json=_new_machine(machine_type, code="A-2"),
                        headers={KEY: "shared"})
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers


def test_the_same_users_next_login_replays_too(client, api_as, make_machine_type):
    api, user = api_as("production_manager")
    body = _new_machine(make_machine_type(), code="A-3")
    api.post(MACHINES, json=body, headers={KEY: "across-logins"})
    later = ApiClient(client, log_in(client, user.username).json)
    again = later.post(MACHINES, json=body, headers={KEY: "across-logins"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"


def test_a_failed_first_try_keeps_nothing_and_may_be_corrected(manager_api,
                                                               make_machine_type):
    bad = manager_api.post(MACHINES, json={"code": "IDEM-5"}, headers={KEY: "k-5"})
    assert bad.status_code == 422 and bad.json["error"]["code"] == "validation_failed"
    fixed = manager_api.post(MACHINES, json=_new_machine(make_machine_type(), code="IDEM-5"),
                             headers={KEY: "k-5"})
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers


def test_an_action_post_replays_as_well(api_as, make_machine):
    api, _ = api_as("maintenance")
    machine = make_machine()
    raised = api.post("/api/v1/andon/events", headers={KEY: "andon-1"},
                      json={"machine_id": machine.id, "kind": "stoppage"})
    again = api.post("/api/v1/andon/events", headers={KEY: "andon-1"},
                     json={"machine_id": machine.id, "kind": "stoppage"})
    assert raised.status_code == 201 and again.status_code == 201
    assert again.json["id"] == raised.json["id"]  # not the 409 a second call would get
    assert db.session.scalar(select(func.count()).select_from(AndonCall)
                             .where(AndonCall.machine_id == machine.id)) == 1


def test_a_key_of_the_wrong_length_is_400(manager_api, make_machine_type):
    response = manager_api.post(MACHINES, json=_new_machine(make_machine_type()),
                                headers={KEY: "x" * 256})
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_idempotency_key"
    assert _machines("IDEM-1") == 0


def test_without_a_credential_the_key_changes_nothing(client, make_machine_type):
    response = client.post(MACHINES, json=_new_machine(make_machine_type()),
                           headers={KEY: "anon"})
    assert response.status_code == 401


def test_the_answer_is_kept_for_the_configured_hours(app, api_as, make_machine_type,
                                                     monkeypatch):
    monkeypatch.setitem(app.config, "API_IDEMPOTENCY_HOURS", 2)
    api, user = api_as("production_manager")
    api.post(MACHINES, json=_new_machine(make_machine_type()), headers={KEY: "ttl"})
    prefix = app.config["API_REDIS_PREFIX"]
    [stored] = list(redis_client().scan_iter(f"{prefix}:idempotency:user:{user.id}:*"))
    assert 2 * 3600 - 60 < redis_client().ttl(stored) <= 2 * 3600
    redis_client().delete(stored)


def test_the_header_is_in_the_description_of_every_post(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["components"]["parameters"][KEY]["in"] == "header"
    ref = {"$ref": f"#/components/parameters/{KEY}"}
    for path, operations in spec["paths"].items():
        post = operations.get("post")
        if post is None:
            continue
        if post.get("security") == []:  # login, refresh, the signed webhook
            assert ref not in post.get("parameters", []), path
        else:
            assert ref in post["parameters"], path


@pytest.mark.live
def test_the_same_key_while_the_first_is_running_is_409(app, live_server, make_user,
                                                       make_machine):
    """The first request is held inside the database (the andon table locked by the test),
    so the second one really arrives while the first has not answered."""
    user = make_user("maintenance")
    machine = make_machine()
    token = requests.post(f"{live_server}/api/v1/auth/login", timeout=10, json={
        "username": user.username, "password": "correct horse battery"}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", KEY: "held"}
    body = {"machine_id": machine.id, "kind": "stoppage"}
    url = f"{live_server}/api/v1/andon/events"
    answers = {}
    prefix = app.config["API_REDIS_PREFIX"]
    with db.engine.connect() as locker:
        locker.execute(text("LOCK TABLE andon_events IN EXCLUSIVE MODE"))
        first = threading.Thread(target=lambda: answers.update(
            first=requests.post(url, json=body, headers=headers, timeout=30)))
        first.start()
        _wait_for(lambda: any(redis_client().scan_iter(f"{prefix}:idempotency:user:"
                                                       f"{user.id}:*")))
        second = requests.post(url, json=body, headers=headers, timeout=10)
        locker.rollback()
    first.join(timeout=30)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "idempotency_key_in_flight"
    assert second.headers["Retry-After"] == "1"
    assert answers["first"].status_code == 201
    third = requests.post(url, json=body, headers=headers, timeout=10)
    assert third.status_code == 201 and third.headers["Idempotent-Replayed"] == "true"
    assert third.json()["id"] == answers["first"].json()["id"]


def _wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the first request never claimed its key"
        time.sleep(0.02)


def _png(colour):
    data = io.BytesIO()
    Image.new("RGB", (32, 24), colour).save(data, "PNG")
    return data.getvalue()


def test_an_upload_sent_again_is_one_attachment(api_as, make_line, make_machine):
    """Multipart bodies differ byte for byte on every send (the boundary is random); the
    same fields and the same file are the same request all the same."""
    api, operator = api_as("operator")
    machine = make_machine(line=make_line(operators=[operator]))
    issue = services.report_issue(operator, machine, "mechanical", "Guard cracked")
    db.session.commit()
    url = f"/api/v1/issues/{issue.id}/attachments"

    def upload(colour, boundary):
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; "
                f"filename=\"guard.png\"\r\nContent-Type: image/png\r\n\r\n").encode() \
            + _png(colour) + f"\r\n--{boundary}--\r\n".encode()
        return api.post(url, data=body, headers={
            KEY: "photo-1", "Content-Type": f"multipart/form-data; boundary={boundary}"})

    first = upload("red", "boundary-one")
    again = upload("red", "boundary-two")
    assert first.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    other = upload("blue", "boundary-three")
    assert other.status_code == 422
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert db.session.scalar(select(func.count()).select_from(Attachment)
                             .where(Attachment.issue_id == issue.id)) == 1
