"""Clients of the JSON API: log in for a token, then send it as a bearer token."""

import pytest

from tests.helpers import PASSWORD


class ApiClient:
    """The test client with `Authorization: Bearer <access token>` on every request
    (none when `tokens` is None: an anonymous caller)."""

    def __init__(self, client, tokens):
        self.client, self.tokens = client, tokens

    def headers(self, extra=None):
        if self.tokens is None:
            return dict(extra or {})
        return {"Authorization": f"Bearer {self.tokens['access_token']}", **(extra or {})}

    def open(self, method, url, headers=None, **kwargs):
        return self.client.open(url, method=method, headers=self.headers(headers), **kwargs)

    def get(self, url, **kwargs):
        return self.open("GET", url, **kwargs)

    def post(self, url, **kwargs):
        return self.open("POST", url, **kwargs)

    def patch(self, url, **kwargs):
        return self.open("PATCH", url, **kwargs)

    def put(self, url, **kwargs):
        return self.open("PUT", url, **kwargs)

    def delete(self, url, **kwargs):
        return self.open("DELETE", url, **kwargs)


def log_in(client, username, password=PASSWORD, path="/api/v1/auth/login", **kwargs):
    return client.post(path, json={"username": username, "password": password}, **kwargs)


@pytest.fixture
def api_as(client, make_user):
    """`api_as("shift_manager")` → (ApiClient, user): that role, logged in by token."""
    def login_as(role="operator", **fields):
        user = make_user(role, **fields)
        response = log_in(client, user.username)
        assert response.status_code == 200, response.get_data(as_text=True)
        return ApiClient(client, response.json), user
    return login_as
