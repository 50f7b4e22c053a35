"""Live machine tiles: what they say, and that they arrive over a real socket."""

from datetime import UTC, datetime, timedelta

import pytest

from app.blueprints.machines import services
from app.blueprints.machines.models import Metric
from app.blueprints.telemetry.ingest import ingest
from app.blueprints.telemetry.models import MachineState
from app.core.extensions import db
from tests.helpers import session_cookie as _session_cookie
from tests.helpers import text_of
from tests.helpers import ws_url as _ws_url
from tests.ws_client import Client


@pytest.fixture
def mill_type(make_machine_type):
    machine_type = make_machine_type(name="Mill", metrics=(
        ("temperature", "Temperature", "°C", 20, 70), ("speed", "Spindle", "rpm", 0, 15000)))
    services.save_metric(machine_type, Metric(), "parts", "Parts", "parts",
                         role="part_counter")
    services.save_metric(machine_type, Metric(), "running", "Running", kind="boolean",
                         role="running")
    db.session.commit()
    return machine_type


def _feed(machine, *temperatures, running=True, now=None):
    now = now or datetime.now(UTC)
    for n, temperature in enumerate(temperatures):
        ts = (now - timedelta(seconds=len(temperatures) - n)).isoformat()
        ingest([{"ts": ts, "values": {"temperature": temperature, "running": running,
                                      "parts": n}}], "poll", machine=machine, now=now)
    db.session.commit()


def test_tile_shows_state_values_and_trend(logged_in, make_machine, mill_type):
    machine = make_machine(code="MILL-1", machine_type=mill_type)
    _feed(machine, 40.0, 45.5, 80.25)
    browser, _ = logged_in("production_manager")
    html = text_of(browser.get("/"))
    tile = html[html.index(f'id="machine-{machine.id}-tile"'):]
    tile = tile[:tile.index("</a>")]
    assert "Running" in tile and "80.25" in tile and "°C" in tile and "High" in tile
    assert "<polyline points=" in tile  # the sparkline of three temperatures
    assert "Last seen" in tile
    assert db.session.get(MachineState, machine.id).trend == [40.0, 45.5, 80.25]


@pytest.mark.parametrize("setup, word", [
    ("nothing", "No data yet"),
    ("stopped", "Stopped"),
    ("silent", "Silent"),
    ("unreachable", "Unreachable"),
    ("maintenance", "Under maintenance"),
])
def test_tile_says_the_state_in_words(logged_in, make_machine, mill_type, setup, word):
    machine = make_machine(code="MILL-2", machine_type=mill_type,
                           status="maintenance" if setup == "maintenance" else "active")
    if setup == "stopped":
        _feed(machine, 40.0, running=False)
    elif setup == "silent":
        _feed(machine, 40.0, now=datetime.now(UTC) - timedelta(hours=1))
    elif setup == "unreachable":
        _feed(machine, 40.0)
        state = db.session.get(MachineState, machine.id)
        state.reachable, state.last_error = False, "no answer within 5 s"
        db.session.commit()
    browser, _ = logged_in("shift_manager")
    html = text_of(browser.get("/"))
    tile = html[html.index(f'id="machine-{machine.id}-tile"'):]
    assert word in tile[:tile.index("</a>")]


def test_operator_home_shows_only_their_tiles(logged_in, make_machine, mill_type):
    browser, operator = logged_in("operator")
    mine = make_machine(code="MINE-9", machine_type=mill_type, operators=[operator])
    make_machine(code="THEIRS-9", machine_type=mill_type)
    _feed(mine, 41.0)
    html = text_of(browser.get("/"))
    assert "MINE-9" in html and "THEIRS-9" not in html
    assert "?resync=tiles" in html


def test_plant_page_query_count_does_not_grow_with_machines(app, logged_in, make_machine,
                                                            mill_type, count_queries):
    browser, _ = logged_in("production_manager")

    def queries_for_home():
        with count_queries() as statements:
            assert browser.get("/").status_code == 200
        return len(statements)

    for n in range(3):
        _feed(make_machine(code=f"Q-{n}", machine_type=mill_type), 40.0 + n)
    few = queries_for_home()
    for n in range(3, 15):
        _feed(make_machine(code=f"Q-{n}", machine_type=mill_type), 40.0 + n)
    assert queries_for_home() == few


# --- over the socket -----------------------------------------------------------------------

def _open(live_server, username, resync=""):
    url = _ws_url(live_server) + (f"?resync={resync}" if resync else "")
    ws = Client.connect(url, headers={"Cookie": _session_cookie(live_server, username)})
    hello = ws.receive(timeout=5)
    assert 'id="live-dot"' in hello
    return ws


@pytest.mark.live
def test_new_reading_reaches_the_tile_over_the_socket(live_server, make_user, make_machine,
                                                      mill_type):
    viewer = make_user("viewer")
    machine = make_machine(code="LIVE-MILL", machine_type=mill_type)
    plant = _open(live_server, viewer.username, resync="tiles")
    page = _open(live_server, viewer.username, resync=f"machine:{machine.id}")
    try:
        plant.receive(timeout=5), page.receive(timeout=5)  # the resync of the empty state
        _feed(machine, 66.5)
        tile, values = plant.receive(timeout=5), page.receive(timeout=5)
    finally:
        plant.close()
        page.close()
    assert f'id="machine-{machine.id}-tile"' in tile and "66.5" in tile
    assert f'id="machine-{machine.id}-values"' not in tile  # no values panel on the plant
    assert f'id="machine-{machine.id}-values" hx-swap-oob="true"' in values
    assert "66.5" in values and f'id="machine-{machine.id}-tile"' not in values


@pytest.mark.live
def test_operator_socket_gets_no_tile_of_other_machines(live_server, make_user, make_machine,
                                                        mill_type):
    operator = make_user("operator")
    mine = make_machine(code="OP-MINE", machine_type=mill_type, operators=[operator])
    other = make_machine(code="OP-OTHER", machine_type=mill_type)
    ws = _open(live_server, operator.username, resync="tiles")
    try:
        ws.receive(timeout=5)  # the resync
        _feed(other, 50.0)
        _feed(mine, 51.0)
        fragment = ws.receive(timeout=5)
    finally:
        ws.close()
    assert "OP-MINE" in fragment and "OP-OTHER" not in fragment


@pytest.mark.live
def test_reconnecting_plant_page_gets_current_tiles(live_server, make_user, make_machine,
                                                    mill_type):
    operator = make_user("operator")
    mine = make_machine(code="RE-MINE", machine_type=mill_type, operators=[operator])
    make_machine(code="RE-OTHER", machine_type=mill_type)
    _feed(mine, 58.0)  # arrives while the tablet is away
    ws = _open(live_server, operator.username, resync="tiles")
    try:
        current = ws.receive(timeout=5)
    finally:
        ws.close()
    assert "RE-MINE" in current and "58" in current and "RE-OTHER" not in current


@pytest.mark.live
def test_resync_sends_only_what_changed_after_the_page_was_drawn(live_server, make_user,
                                                                 make_machine, mill_type):
    from urllib.parse import quote

    viewer = make_user("viewer")
    before = datetime.now(UTC) - timedelta(minutes=5)
    quiet = make_machine(code="SINCE-QUIET", machine_type=mill_type)
    busy = make_machine(code="SINCE-BUSY", machine_type=mill_type)
    _feed(quiet, 40.0, now=before - timedelta(minutes=1))   # before the page was drawn
    _feed(busy, 41.0)                                        # after it: missed, so resent
    ws = _open(live_server, viewer.username,
               resync=f"tiles&since={quote(before.isoformat())}")
    try:
        missed = ws.receive(timeout=5)
    finally:
        ws.close()
    assert f'id="machine-{busy.id}-tile"' in missed
    assert f'id="machine-{quiet.id}-tile"' not in missed


def test_plant_page_asks_only_for_changes_since_it_was_drawn(logged_in):
    browser, _ = logged_in("production_manager")
    html = text_of(browser.get("/"))
    assert 'ws-connect="/ws?resync=tiles&since=' in html
