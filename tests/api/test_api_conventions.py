"""Every API failure is JSON {"error": {"code", "message", "fields"}}; pages stay pages."""

import pytest

URL = "/api/v1/machines"


def _error(response):
    assert response.is_json, response.get_data(as_text=True)[:200]
    return response.json["error"]


def test_malformed_json_is_400(api_as):
    api, _ = api_as("admin")
    response = api.post(URL, data="{not json", content_type="application/json")
    assert response.status_code == 400 and _error(response)["code"] == "bad_request"


def test_a_body_that_is_not_json_is_415(api_as):
    api, _ = api_as("admin")
    response = api.post(URL, data="code=X&name=Y")
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_missing_and_wrong_fields_are_422_by_field(api_as):
    api, _ = api_as("admin")
    response = api.post(URL, json={"name": 5, "status": "melting", "surprise": 1})
    error = _error(response)
    assert response.status_code == 422 and error["code"] == "validation_failed"
    assert {"code", "name", "machine_type_id", "status", "surprise"} <= error["fields"].keys()


def test_text_the_database_cannot_store_is_422_not_500(api_as, make_machine_type):
    api, _ = api_as("admin")
    machine_type = make_machine_type()
    response = api.post(URL, json={"code": "N-1", "name": "a\x00b",
                                   "machine_type_id": machine_type.id})
    assert response.status_code == 422 and "name" in _error(response)["fields"]
    assert api.get(f"{URL}?q=%00").status_code == 422


def test_bad_query_values_are_422(api_as):
    api, _ = api_as("viewer")
    for query in ("page=0", "per_page=1000", "sort=secret", "line=x"):
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 422, query


@pytest.mark.parametrize("method, url, status", [
    ("GET", "/api/v1/nothing-here", 404),
    ("DELETE", "/api/v1/auth/login", 405),
    ("GET", "/api/v1/ingest", 405),
])
def test_unrouted_requests_are_json_too(client, method, url, status):
    response = client.open(url, method=method)
    assert response.status_code == status and _error(response)["code"]


def test_a_role_that_may_not_is_403_json(api_as):
    api, _ = api_as("viewer")
    response = api.post(URL, json={})
    assert response.status_code == 403 and _error(response)["code"] == "forbidden"


def test_api_posts_need_no_csrf_token_but_pages_still_do(api_as, client):
    api, _ = api_as("admin")
    assert api.post("/api/v1/auth/logout").status_code == 204
    page = client.post("/auth/login", data={"username": "x", "password": "y"})
    assert page.status_code == 400 and not page.is_json


def test_html_errors_stay_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_openapi_and_its_viewers_are_served_offline(client):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200 and spec.json["openapi"].startswith("3.1")
    assert spec.json["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert "/api/v1/machines/{machine_id}" in spec.json["paths"]
    for page, asset in (("/api/docs", "/static/vendor/swagger-ui/swagger-ui-bundle.js"),
                        ("/api/redoc", "/static/vendor/redoc/redoc.standalone.js")):
        html = client.get(page).get_data(as_text=True)
        assert asset in html and "cdn" not in html.lower()
        assert client.get(asset).status_code == 200


def test_a_body_over_the_limit_is_413(app, api_as, monkeypatch):
    api, _ = api_as("admin")
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = api.post(URL, json={"code": "BIG", "name": "x" * 2000})
    assert response.status_code == 413
    assert _error(response)["code"] == "payload_too_large"
