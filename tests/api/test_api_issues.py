"""Logbook issues over the API: list, report, get, edit (If-Match), status, remedies,
and a real PNG upload and download."""

import io

import pytest
from PIL import Image

from app.blueprints.logbook import services
from app.core.extensions import db

URL = "/api/v1/issues"


@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))


def _issue(user, machine, description="Coolant leaking at the pump", **kwargs):
    issue = services.report_issue(user, machine, "mechanical", description, **kwargs)
    db.session.commit()
    return issue


def _png():
    data = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(data, "PNG")
    return data.getvalue()


def _ids(response):
    return [i["id"] for i in response.json["items"]]


def test_report_then_read_it_back(api_as, make_line, make_machine):
    api, operator = api_as("operator")
    machine = make_machine(code="CNC-I1", line=make_line(operators=[operator]))
    response = api.post(URL, json={"machine_id": machine.id, "category": "electrical",
                                   "description": "Spindle drive trips", "runnable": False,
                                   "alarm_code": "E-101"})
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "open" and body["runnable"] is False and body["source"] == "api"
    assert body["machine"]["code"] == "CNC-I1" and body["reported_by"]["id"] == operator.id
    assert [e["kind"] for e in body["events"]] == ["reported", "downtime"]
    got = api.get(response.headers["Location"])
    assert got.status_code == 200 and got.json["title"] == body["title"]


def test_list_filters_and_operator_visibility(api_as, make_user, make_line, make_machine):
    api, operator = api_as("operator")
    mine = make_machine(code="MINE", line=make_line(operators=[operator]))
    other = make_machine(code="OTHER")
    manager = make_user("shift_manager")
    leak = _issue(operator, mine)
    noise = _issue(operator, mine, "Loud bearing noise", priority="high")
    hidden = _issue(manager, other)
    assert sorted(_ids(api.get(URL))) == sorted([leak.id, noise.id])
    assert _ids(api.get(f"{URL}?q=bearing")) == [noise.id]
    assert _ids(api.get(f"{URL}?sort=id")) == [leak.id, noise.id]
    assert api.get(f"{URL}?status=done").json["total"] == 0
    assert api.get(f"{URL}/{hidden.id}").status_code == 403
    everyone, _ = api_as("viewer")
    assert everyone.get(f"{URL}?machine={other.id}").json["total"] == 1
    bad = api.get(f"{URL}?from=2026-12-01&to=2026-11-01")
    assert bad.status_code == 422 and "from" in bad.json["error"]["fields"]


def test_viewer_and_strangers_may_not_report(api_as, make_machine):
    machine = make_machine()
    viewer, _ = api_as("viewer")
    body = {"machine_id": machine.id, "category": "mechanical", "description": "x"}
    assert viewer.post(URL, json=body).status_code == 403
    operator, _ = api_as("operator")
    assert operator.post(URL, json=body).status_code == 403
    manager, _ = api_as("shift_manager")
    missing = manager.post(URL, json={**body, "machine_id": 999_999})
    assert missing.status_code == 422 and "machine_id" in missing.json["error"]["fields"]
    assert manager.get(f"{URL}/999999").status_code == 404


def test_status_workflow_and_remedies(api_as, make_user, make_machine):
    machine = make_machine()
    reporter = make_user("shift_manager")
    issue = _issue(reporter, machine)
    api, fitter = api_as("maintenance")
    status = f"{URL}/{issue.id}/status"
    moved = api.post(status, json={"status": "in_progress", "note": "On it"})
    assert moved.status_code == 200 and moved.json["status"] == "in_progress"
    jump = api.post(status, json={"status": "closed"})
    assert jump.status_code == 422 and "status" in jump.json["error"]["fields"]
    remedy = api.post(f"{URL}/{issue.id}/remedies", json={
        "description": "Replaced the seal", "minutes_spent": 45,
        "parts": [{"name": "Seal", "quantity": 2, "unit_cost": 3.5}]})
    assert remedy.status_code == 201, remedy.json
    assert remedy.json["parts_cost"] == "7.00" and remedy.json["performed_by"]["id"] == fitter.id
    empty = api.post(f"{URL}/{issue.id}/remedies", json={"description": " "})
    assert empty.status_code == 422 and "description" in empty.json["error"]["fields"]
    operator, _ = api_as("operator")
    assert operator.post(status, json={"status": "resolved"}).status_code == 403
    assert api.get(f"{URL}/{issue.id}").json["remedies"][0]["description"] == "Replaced the seal"


def test_edit_needs_a_fresh_etag(api_as, make_machine):
    api, manager = api_as("production_manager")
    issue = _issue(manager, make_machine())
    url = f"{URL}/{issue.id}"
    etag = api.get(url).headers["ETag"]
    assert api.patch(url, json={"priority": "high"}).status_code == 428
    changed = api.patch(url, json={"priority": "high", "runnable": False},
                        headers={"If-Match": etag})
    assert changed.status_code == 200, changed.json
    assert changed.json["priority"] == "high" and changed.json["runnable"] is False
    assert api.patch(url, json={"title": "x"}, headers={"If-Match": etag}).status_code == 412


def test_upload_a_png_and_download_it(api_as, make_line, make_machine, app):
    api, operator = api_as("operator")
    machine = make_machine(line=make_line(operators=[operator]))
    issue = _issue(operator, machine)
    png = _png()
    response = api.post(f"{URL}/{issue.id}/attachments",
                        data={"photo": (io.BytesIO(png), "leak.png")},
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.json
    body = response.json
    assert body["kind"] == "image" and body["content_type"] == "image/png"
    assert body["original_name"] == "leak.png" and body["size"] == len(png)
    download = api.get(body["url"])
    assert download.status_code == 200 and download.data == png
    stranger, _ = api_as("operator")
    assert stranger.get(body["url"]).status_code == 403
    detail = api.get(f"{URL}/{issue.id}").json
    assert [a["id"] for a in detail["attachments"]] == [body["id"]]


def test_uploads_are_checked_as_on_the_page(api_as, make_machine, app, monkeypatch):
    api, manager = api_as("shift_manager")
    issue = _issue(manager, make_machine())
    url = f"{URL}/{issue.id}/attachments"
    fake = api.post(url, data={"photo": (io.BytesIO(b"%PDF-1.4 not a photo"), "x.png")},
                    content_type="multipart/form-data")
    assert fake.status_code == 415 and "photo" in fake.json["error"]["fields"]
    named = api.post(url, data={"photo": (io.BytesIO(_png()), "x.pdf")},
                     content_type="multipart/form-data")
    assert named.status_code == 415
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 100)
    big = api.post(url, data={"photo": (io.BytesIO(_png() + bytes(200)), "big.png")},
                   content_type="multipart/form-data")
    assert big.status_code == 413 and big.json["error"]["code"] == "payload_too_large"
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 10_000_000)
    monkeypatch.setitem(app.config, "UPLOAD_MAX_PER_ISSUE", 1)
    png = {"photo": (io.BytesIO(_png()), "a.png")}
    assert api.post(url, data=png, content_type="multipart/form-data").status_code == 201
    full = api.post(url, data={"photo": (io.BytesIO(_png()), "b.png")},
                    content_type="multipart/form-data")
    assert full.status_code == 422 and "most allowed" in full.json["error"]["fields"]["photo"]
    missing = api.post(url, data={}, content_type="multipart/form-data")
    assert missing.status_code == 422
    assert api.get("/api/v1/attachments/999999").status_code == 404
