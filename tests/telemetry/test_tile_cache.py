"""Tiles kept as shared fragments in Redis: the page reuses them, and never shows one that
is no longer true (renamed, retired, new values, an edited metric, gone silent)."""

import logging
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from app.blueprints.machines import services
from app.blueprints.machines.models import Line, Machine
from app.blueprints.telemetry import tile_cache
from app.blueprints.telemetry.ingest import ingest
from app.blueprints.telemetry.models import MachineState
from app.core.extensions import db, redis_client
from tests.helpers import text_of


@pytest.fixture
def mill_type(make_machine_type):
    return make_machine_type(name="Cache mill", metrics=(
        ("temperature", "Temperature", "°C", 20, 70), ("speed", "Spindle", "rpm", 0, 15000)))


def _feed(machine, temperature, now=None):
    now = now or datetime.now(UTC)
    ingest([{"ts": (now - timedelta(seconds=1)).isoformat(),
             "values": {"temperature": temperature, "speed": 1200}}], "poll",
           machine=machine, now=now)
    db.session.commit()


def _tile(browser, machine):
    html = text_of(browser.get("/"))
    tile = html[html.index(f'id="machine-{machine.id}-tile"'):]
    return tile[:tile.index("</a>")]


def _cached(app, machine):
    with app.test_request_context("/"):
        return redis_client().hget(tile_cache._cache_key(), str(machine.id))


def _edit(machine, **changes):
    fields = {"code": machine.code, "name": machine.name, "machine_type": machine.machine_type,
              "line": machine.line, "status": machine.status, "location": machine.location}
    services.save_machine(machine, **{**fields, **changes})
    db.session.commit()


def test_the_page_keeps_each_tile_and_draws_it_from_the_cache(app, logged_in, make_machine,
                                                              mill_type):
    machine = make_machine(code="KEEP-1", machine_type=mill_type)
    _feed(machine, 44.0)
    browser, _ = logged_in("production_manager")
    first = _tile(browser, machine)
    kept = _cached(app, machine)
    assert kept is not None and b"KEEP-1" in kept
    assert _tile(browser, machine) == first
    assert _cached(app, machine) == kept  # read, not drawn again
    # A live frame keeps the out-of-band swap; the page's tile has none.
    assert b'hx-swap-oob="true"' in kept and "hx-swap-oob" not in first


@pytest.mark.parametrize("change, before, after", [
    ({"name": "Renamed mill"}, "Old name", "Renamed mill"),
    ({"status": "retired"}, "Reporting", "Retired"),
    ({"status": "maintenance"}, "Reporting", "Under maintenance"),
    ({"location": "Bay 9"}, "Bay 1", "Bay 9"),
])
def test_an_edited_machine_shows_the_edit_at_once(logged_in, make_machine, mill_type, change,
                                                  before, after):
    machine = make_machine(code="EDIT-1", name="Old name", machine_type=mill_type,
                           location="Bay 1")
    if "location" not in change:  # the location shows until the machine reports
        _feed(machine, 44.0)
    browser, _ = logged_in("production_manager")
    assert before in _tile(browser, machine)
    _edit(machine, **change)
    tile = _tile(browser, machine)
    assert after in tile and before not in tile


def test_a_new_reading_shows_at_once(logged_in, make_machine, mill_type):
    machine = make_machine(code="READ-1", machine_type=mill_type)
    _feed(machine, 44.0)
    browser, _ = logged_in("production_manager")
    assert "44" in _tile(browser, machine)
    _feed(machine, 81.5)
    tile = _tile(browser, machine)
    assert "81.5" in tile and "High" in tile and "44" not in tile


def test_an_edited_metric_redraws_every_tile_of_the_type(logged_in, make_machine, mill_type):
    machines = [make_machine(code=f"TYPE-{n}", machine_type=mill_type) for n in range(2)]
    for machine in machines:
        _feed(machine, 65.0)
    browser, _ = logged_in("production_manager")
    assert "High" not in _tile(browser, machines[0])
    metric = mill_type.metric("temperature")
    services.save_metric(mill_type, metric, "temperature", "Coolant temperature", "°C",
                         "number", 20, 60)
    db.session.commit()
    for machine in machines:
        tile = _tile(browser, machine)
        assert "Coolant temperature" in tile and "High" in tile


def test_a_tile_goes_silent_when_its_machine_does(app, make_machine, mill_type):
    machine = make_machine(code="QUIET-1", machine_type=mill_type)
    _feed(machine, 44.0)
    with app.test_request_context("/"):
        rows = tile_cache.tile_rows(Machine.id == machine.id)
        now = datetime.now(UTC)
        assert "Reporting" in tile_cache.fragments(rows, now)[machine.id]
        later = tile_cache.fragments(rows, now + timedelta(minutes=5))[machine.id]
    assert "Silent" in later and "Reporting" not in later


def test_last_seen_is_written_as_each_page_goes_out(app, logged_in, make_machine, mill_type):
    machine = make_machine(code="AGO-1", machine_type=mill_type)
    _feed(machine, 44.0, now=datetime.now(UTC) - timedelta(seconds=90))
    browser, _ = logged_in("production_manager")
    assert "Last seen 1 minute ago" in _tile(browser, machine)
    kept = _cached(app, machine)
    state = db.session.get(MachineState, machine.id)
    state.last_seen_at = datetime.now(UTC) - timedelta(seconds=150)  # still silent
    db.session.commit()
    assert "Last seen 2 minutes ago" in _tile(browser, machine)
    assert _cached(app, machine) == kept  # same fragment, its time filled in anew


def test_a_machine_moved_to_another_line_shows_under_it(logged_in, make_machine, mill_type):
    first = services.save_line(Line(), "CL1", "Cache line one")
    second = services.save_line(Line(), "CL2", "Cache line two")
    db.session.commit()
    machine = make_machine(code="MOVE-1", machine_type=mill_type, line=first)
    browser, _ = logged_in("production_manager")
    html = text_of(browser.get("/"))
    assert html.index("MOVE-1") < html.index("Cache line two")
    _edit(machine, line=second)
    html = text_of(browser.get("/"))
    assert html.index("Cache line two") < html.index("MOVE-1")
    assert "No machines on this line yet." in html


def test_a_name_that_looks_like_the_marker_stays_text(logged_in, make_machine, mill_type):
    machine = make_machine(code="MARK-1", name="<!--seen--> <!--/tile-->",
                           machine_type=mill_type)
    _feed(machine, 44.0)
    browser, _ = logged_in("production_manager")
    tile = _tile(browser, machine)
    assert "&lt;!--seen--&gt; &lt;!--/tile--&gt;" in tile and "Last seen just now" in tile


def test_the_page_draws_every_tile_when_redis_is_down(app, logged_in, make_machine, mill_type,
                                                      monkeypatch, caplog):
    machine = make_machine(code="DOWN-1", machine_type=mill_type)
    _feed(machine, 47.5)
    browser, _ = logged_in("production_manager")
    # Port 1 on loopback: nothing listens, so every cache read and write fails at once.
    monkeypatch.setitem(app.extensions, "floorline_redis",
                        Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    caplog.set_level(logging.WARNING, logger="app.blueprints.telemetry.tile_cache")
    assert "47.5" in _tile(browser, machine)
    assert any("tile cache unavailable" in r.getMessage() for r in caplog.records)


def test_plant_page_names_each_lines_department_and_operators(logged_in, make_user,
                                                              make_machine, mill_type):
    from app.blueprints.machines.models import Department

    department = services.save_department(Department(), "HEAD", "Heading hall")
    staffed = services.save_line(Line(), "HL1", "Heading line one", department,
                                 operators=[make_user("operator", full_name="Ana Ortiz"),
                                            make_user("operator", username="zed-op", full_name="")])
    services.save_line(Line(), "HL2", "Heading line two")
    db.session.commit()
    make_machine(code="HEAD-1", machine_type=mill_type, line=staffed)
    browser, _ = logged_in("production_manager")
    html = text_of(browser.get("/"))
    assert "HL1 · Heading hall · Ana Ortiz, zed-op" in html
    assert "HL2 · no operators" in html


def _claimed_by_another_process(app, machine):
    """Claims the machine's tile as another web process's hub would; (rows, now, key,
    version)."""
    rows = tile_cache.tile_rows(Machine.id == machine.id)
    now = datetime.now(UTC)
    version = tile_cache._versions(rows, tile_cache._types({machine.machine_type_id}),
                                   now)[machine.id]
    key = tile_cache._cache_key()
    redis_client().set(f"{key}:drawing:{machine.id}:{version}", 1, px=5000)
    return rows, now, key, version


def test_a_tile_another_process_is_drawing_is_waited_for(app, make_machine, mill_type):
    import threading

    machine = make_machine(code="CLAIM-1", machine_type=mill_type)
    _feed(machine, 44.0)
    with app.test_request_context("/"):
        rows, now, key, version = _claimed_by_another_process(app, machine)
        client = redis_client()
        threading.Timer(0.1, client.hset, (key, str(machine.id),
                                           f"{version}\n<a>drawn elsewhere</a>")).start()
        assert tile_cache.fragments(rows, now)[machine.id] == "<a>drawn elsewhere</a>"


def test_a_claim_nobody_finishes_lapses_and_the_tile_is_drawn(app, make_machine, mill_type):
    machine = make_machine(code="CLAIM-2", machine_type=mill_type)
    _feed(machine, 44.0)
    with app.test_request_context("/"):
        rows, now, _key, _version = _claimed_by_another_process(app, machine)
        assert "CLAIM-2" in tile_cache.fragments(rows, now)[machine.id]
