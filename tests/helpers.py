"""Small helpers shared by tests."""

import re

PASSWORD = "correct horse battery"


def text_of(response):
    return response.get_data(as_text=True)


def shown_credentials(response):
    """The username and one-time password on the 'account created' page."""
    html = text_of(response)
    username = re.search(r'id="new-username">([^<]+)<', html).group(1)
    password = re.search(r'id="new-password">([^<]+)<', html).group(1)
    return username, password


def redirect_path(response):
    location = response.headers.get("Location", "")
    return re.sub(r"^https?://[^/]+", "", location)


# --- real sockets (tests marked live, with the live_server fixture) ----------------------

def session_cookie(base_url, username, password=PASSWORD):
    """Log in through the real login form and return the Cookie header."""
    import requests

    http = requests.Session()
    page = http.get(f"{base_url}/auth/login", timeout=5).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = http.post(f"{base_url}/auth/login", data={
        "username": username, "password": password, "csrf_token": token},
        allow_redirects=False, timeout=5)
    assert response.status_code == 302
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def ws_url(base_url):
    return base_url.replace("http://", "ws://") + "/ws"


def demo_specs():
    """The demo plant's machines as the simulator sees them, straight from plant.json."""
    import json

    from app.demo import PLANT
    from tools.simulator.signals import MachineSpec, MetricSpec

    data = json.loads(PLANT.read_text(encoding="utf-8"))
    types = {t["name"]: t for t in data["machine_types"]}
    return [MachineSpec(m["code"], m["vendor_id"], tuple(
        MetricSpec(x["key"], x.get("kind", "number"), x.get("min"), x.get("max"),
                   x.get("role"), x.get("unit", "")) for x in types[m["type"]]["metrics"]))
        for m in data["machines"]]


def open_socket(base_url, username, query=""):
    """A logged-in /ws socket (query e.g. "?resync=notifications") and its first message,
    sent once the server has subscribed: (socket, hello)."""
    from tests.ws_client import Client

    ws = Client.connect(ws_url(base_url) + query,
                        headers={"Cookie": session_cookie(base_url, username)})
    hello = ws.receive(timeout=5)
    assert hello is not None and 'id="live-dot"' in hello
    return ws, hello


def receive_until(ws, needle, timeout=5):
    """Messages until one contains `needle`; that one (None if none came in time)."""
    import time

    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        message = ws.receive(timeout=left)
        if message is not None and needle in message:
            return message
    return None
