"""The vendor simulator: its signal model over simulated time, its HTTP API, its pushes."""

import logging
import re
import socket
import stat
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
import requests
from sqlalchemy import select

from app.blueprints.machines import fixtures
from app.blueprints.machines.models import Machine
from app.blueprints.telemetry.ingest import check_values
from app.blueprints.telemetry.models import MachineState, Reading
from app.core.extensions import db
from app.demo import PLANT
from tests.helpers import demo_specs
from tools.simulator.machines import load_specs, spec_for
from tools.simulator.server import Pusher, Refresher, Server, create_vendor_app
from tools.simulator.signals import (
    TICK_SECONDS,
    Plant,
    is_temperature,
    is_vibration,
)
from tools.simulator.subscriptions import SubscriptionStore

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ALLOWED_WORDS = {"die_alignment": {"aligned", "misaligned"}, "status": {"pass", "fail"},
                 "navigation_status": {"en_route", "waiting", "rerouting"}}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now

    def tick(self, seconds=TICK_SECONDS):
        self.now += timedelta(seconds=seconds)
        return self.now


class Run:
    """A plant stepped tick by tick, with what it reported and what it was inside."""

    def __init__(self, hours, seed=7, silent=None):
        self.specs = {s.vendor_id: s for s in demo_specs()}
        self.plant = Plant(self.specs.values(), seed=seed, silent=silent, now=T0)
        self.readings = defaultdict(list)     # vendor id → [values or None while silent]
        self.ticks = defaultdict(list)        # vendor id → [(running, {key: raw value})]
        self.overheating = []                 # per tick: how many machines overheat
        clock = Clock()
        for _ in range(hours * 3600 // TICK_SECONDS):
            now = clock.tick()
            self.plant.advance(now)
            self.overheating.append(sum(m.overheating for m in self.plant.models.values()))
            for vendor_id, model in self.plant.models.items():
                self.ticks[vendor_id].append(
                    (model.running, {k: s.value() for k, s in model.signals.items()}))
                reading = self.plant.reading(vendor_id, now)
                self.readings[vendor_id].append(reading and reading.values)

    def metrics(self, test):
        return [(vid, m) for vid, spec in self.specs.items() for m in spec.metrics if test(m)]

    def series(self, vendor_id, key):
        return [r[key] for r in self.readings[vendor_id] if r is not None]


@pytest.fixture(scope="module")
def hour():
    return Run(hours=1)


@pytest.fixture(scope="module")
def three_hours():
    return Run(hours=3)


# --- the signal model --------------------------------------------------------------------

def test_temperatures_stay_mostly_in_band_but_one_machine_overheats_now_and_then(hour):
    overheated = set()
    for vendor_id, metric in hour.metrics(is_temperature):
        values = hour.series(vendor_id, metric.key)
        in_band = [metric.normal_min <= v <= metric.normal_max for v in values]
        assert sum(in_band) / len(values) > 0.75, (vendor_id, metric.key)
        if any(v > metric.normal_max for v in values):
            overheated.add(vendor_id)
    assert len(overheated) >= 3, "an overheat every few minutes, on different machines"
    assert max(hour.overheating) == 1, "about one machine at a time"
    # Drift is slow: from one 5-second reading to the next a temperature moves little.
    steps = [abs(b - a) / (m.normal_max - m.normal_min)
             for vid, m in hour.metrics(is_temperature)
             for a, b in pairwise(hour.series(vid, m.key))]
    assert sorted(steps)[len(steps) // 2] < 0.02


def test_vibration_spikes_now_and_then(hour):
    spikes = 0
    for vendor_id, metric in hour.metrics(is_vibration):
        values = hour.series(vendor_id, metric.key)
        above = [v > metric.normal_max for v in values]
        assert sum(above) / len(values) < 0.1
        spikes += sum(1 for a, b in pairwise(above) if b and not a)
    assert 2 <= spikes <= 40


def test_battery_drains_while_running_and_recharges_when_low(three_hours):
    agvs = [vid for vid, m in three_hours.metrics(lambda m: m.role == "battery")]
    assert agvs
    recharges = 0
    for vendor_id in agvs:
        ticks = three_hours.ticks[vendor_id]
        levels = [values["battery_level"] for _, values in ticks]
        for (running, _), (before, after) in zip(ticks[1:], pairwise(levels), strict=True):
            if running:
                assert after <= before, "a running machine's battery never charges"
        low = None
        for level in levels:
            if level <= 26:
                low = level
            elif low is not None and level >= 90:
                recharges, low = recharges + 1, None
        assert min(levels) >= 10 and max(levels) <= 100
    assert recharges >= 2, "each AGV charges once it runs low"


def test_part_counter_only_counts_up_and_only_while_running(hour):
    for vendor_id, metric in hour.metrics(lambda m: m.role == "part_counter"):
        ticks = hour.ticks[vendor_id]
        counts = [values[metric.key] for _, values in ticks]
        for (running, _), (before, after) in zip(ticks[1:], pairwise(counts), strict=True):
            assert after >= before
            if not running:
                assert after == before, f"{vendor_id} counted while stopped"
        assert counts[-1] > counts[0]
        reported = hour.series(vendor_id, metric.key)
        assert reported == sorted(reported)


def test_machines_stop_and_restart(hour):
    for vendor_id in hour.specs:
        flags = hour.series(vendor_id, "running")
        assert True in flags and False in flags, vendor_id
        assert sum(flags) / len(flags) > 0.5, f"{vendor_id} runs most of the time"


def test_text_metrics_pick_from_plausible_words(three_hours):
    seen = defaultdict(list)
    for vendor_id, metric in three_hours.metrics(lambda m: m.kind == "text"):
        seen[metric.key] += three_hours.series(vendor_id, metric.key)
    assert set(seen) == set(ALLOWED_WORDS)
    for key, words in seen.items():
        assert set(words) <= ALLOWED_WORDS[key], key
        assert len(set(words)) >= 2, f"{key} never changes"
    assert seen["status"].count("pass") / len(seen["status"]) > 0.8
    assert seen["die_alignment"].count("aligned") / len(seen["die_alignment"]) > 0.8


def test_the_silent_machine_goes_silent_for_a_few_minutes_now_and_then(hour):
    last = max(hour.specs.values(), key=lambda s: s.code)
    assert hour.plant.silent_code == last.code == "WLD-02"
    silent = [r is None for r in hour.readings[last.vendor_id]]
    assert 0.05 < sum(silent) / len(silent) < 0.4
    spells = sum(1 for a, b in pairwise(silent) if b and not a)
    assert spells >= 2
    for vendor_id, readings in hour.readings.items():
        if vendor_id != last.vendor_id:
            assert None not in readings, f"{vendor_id} was not meant to go silent"


def test_the_silent_machine_can_be_chosen():
    plant = Plant(demo_specs(), seed=3, silent="cnc-01", now=T0)
    silent = [plant.is_silent("cnc_milling_001", T0 + timedelta(minutes=m))
              for m in range(60)]
    assert plant.silent_code == "CNC-01" and any(silent)
    assert not any(plant.is_silent("welding_robot_007", T0 + timedelta(minutes=m))
                   for m in range(60, 120))


def test_values_hold_for_a_few_seconds_so_change_only_storage_can_skip(hour):
    repeats = total = 0
    for readings in hour.readings.values():
        pairs = [(a, b) for a, b in pairwise(readings) if a and b]
        repeats += sum(a == b for a, b in pairs)
        total += len(pairs)
    assert 0.3 < repeats / total < 0.9


def test_same_seed_and_clock_give_the_same_signals():
    def run(seed):
        plant, clock = Plant(demo_specs(), seed=seed, now=T0), Clock()
        return [plant.reading("agv_003", clock.tick(37)) for _ in range(100)]
    assert run(11) == run(11)
    assert run(11) != run(12)


def test_machines_come_and_go_with_sync_and_time_never_runs_back():
    specs = demo_specs()
    plant = Plant(specs[:3], seed=1, now=T0)
    assert not plant.knows(specs[5].vendor_id)
    plant.sync(specs[1:6], T0 + timedelta(minutes=1))
    assert plant.knows(specs[5].vendor_id) and not plant.knows(specs[0].vendor_id)
    later = plant.reading(specs[1].vendor_id, T0 + timedelta(minutes=2))
    earlier = plant.reading(specs[1].vendor_id, T0 + timedelta(minutes=1))
    assert earlier.values == later.values  # an earlier clock does not rewind the model


# --- the vendor's HTTP API ----------------------------------------------------------------

@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def served(tmp_path, clock):
    """Start the simulator's HTTP app on a free loopback port for a plant."""
    servers = []

    def serve(specs, seed=5, silent=None):
        plant = Plant(specs, seed=seed, silent=silent, now=clock())
        store = SubscriptionStore(tmp_path / "subscriptions.json")
        server = Server(create_vendor_app(plant, store, clock=clock)).start()
        servers.append(server)
        return server.url, plant, store
    yield serve
    for server in servers:
        server.stop()


def test_data_url_answers_the_contract_with_values_floorline_accepts(served, clock):
    fixtures.load(PLANT.read_text(encoding="utf-8"))
    machines = db.session.scalars(select(Machine).where(Machine.vendor_id.isnot(None))
                                  .order_by(Machine.code)).all()
    assert len(machines) == 11
    specs = load_specs()
    assert [s.code for s in specs] == [m.code for m in machines]
    url, plant, _ = served(specs)
    for machine in machines:
        response = requests.get(f"{url}/machines/{machine.vendor_id}/data",
                                headers={"Accept": "application/json"}, timeout=5)
        assert response.status_code == 200, machine.code
        assert response.headers["Content-Type"] == "application/json"
        body = response.json()
        assert set(body) == {"machine_id", "ts", "values"}
        assert body["machine_id"] == machine.vendor_id and TS_RE.match(body["ts"])
        assert set(body["values"]) == {m.key for m in machine.machine_type.metrics}
        assert check_values(machine.machine_type, body["values"]) == [], machine.code
    # The silent machine answers 503 while silent, then comes back.
    silent = next(m for m in machines if m.code == plant.silent_code)
    statuses = []
    for _ in range(15 * 60 // 10):
        clock.tick(10)
        statuses.append(requests.get(f"{url}/machines/{silent.vendor_id}/data",
                                     timeout=5).status_code)
    assert set(statuses) == {200, 503} and statuses[-1] == 200
    missing = requests.get(f"{url}/machines/nope_001/data", timeout=5)
    assert missing.status_code == 404 and "nope_001" in missing.json()["error"]


def test_subscriptions_are_idempotent_listed_deleted_and_kept_in_a_file(served, tmp_path):
    url, _, store = served(demo_specs())
    body = {"machine_id": "agv_003", "callback_url": "http://127.0.0.1:8000/api/v1/ingest",
            "secret": "s3cret"}
    first = requests.post(f"{url}/subscriptions", json=body, timeout=5)
    assert first.status_code == 201
    sub = first.json()
    assert set(sub) == {"id", "machine_id", "callback_url"}
    assert first.headers["Location"].endswith(f"/subscriptions/{sub['id']}")
    again = requests.post(f"{url}/subscriptions", json=body, timeout=5)
    assert again.status_code == 200 and again.json() == sub
    rotated = requests.post(f"{url}/subscriptions", json={**body, "secret": "new"}, timeout=5)
    assert rotated.status_code == 200 and rotated.json()["id"] == sub["id"]
    assert store.all()[0].secret == "new"

    listed = requests.get(f"{url}/subscriptions", timeout=5)
    assert listed.status_code == 200 and listed.json() == [sub]   # never the secret

    path = tmp_path / "subscriptions.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [s.public() for s in SubscriptionStore(path).all()] == [sub]   # survives a restart

    assert requests.delete(f"{url}/subscriptions/{sub['id']}", timeout=5).status_code == 204
    gone = requests.delete(f"{url}/subscriptions/{sub['id']}", timeout=5)
    assert gone.status_code == 404 and "error" in gone.json()
    assert requests.get(f"{url}/subscriptions", timeout=5).json() == []
    assert SubscriptionStore(path).all() == []


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"machine_id": "agv_003", "callback_url": "ftp://x/y", "secret": "s"}, 422, "callback_url"),
    ({"machine_id": "agv_003", "callback_url": "http://127.0.0.1/x"}, 422, "secret"),
    ({"machine_id": "", "callback_url": "http://127.0.0.1/x", "secret": "s"}, 422, "machine_id"),
    ({"machine_id": "nope", "callback_url": "http://127.0.0.1/x", "secret": "s"}, 404, "nope"),
    ([1, 2], 400, "JSON object"),
])
def test_bad_subscriptions_are_refused_with_a_reason(served, body, status, words):
    url, _, store = served(demo_specs())
    response = requests.post(f"{url}/subscriptions", json=body, timeout=5)
    assert response.status_code == status and words in response.json()["error"]
    assert store.all() == []


def test_new_machines_appear_when_the_vendor_re_reads_its_list(clock):
    specs = demo_specs()
    records = specs[:2]                  # what the vendor's records say, as time goes by
    plant = Plant(records, seed=1, now=clock())
    refresher = Refresher(plant, lambda: list(records), clock=clock, min_gap=0)
    records.append(specs[5])
    assert not plant.knows(specs[5].vendor_id)
    refresher.refresh()
    assert plant.knows(specs[5].vendor_id)
    # A request for a machine added a moment ago makes the vendor look again at once.
    records.append(specs[6])
    server = Server(create_vendor_app(plant, SubscriptionStore(), clock=clock,
                                      refresher=refresher)).start()
    try:
        response = requests.get(f"{server.url}/machines/{specs[6].vendor_id}/data", timeout=5)
    finally:
        server.stop()
    assert response.status_code == 200


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pushes_fail_softly_log_once_and_skip_silent_machines(served, clock, caplog):
    caplog.set_level(logging.INFO, logger="floorline.simulator")
    _, plant, store = served(demo_specs(), silent="AGV-01")
    store.upsert("agv_003", f"http://127.0.0.1:{closed_port()}/api/v1/ingest", "s")
    pusher = Pusher(plant, store, clock=clock)
    for _ in range(3):
        [result] = pusher.push_once(clock.tick())
        assert result.error == "cannot connect" and not result.ok
    assert [r.message for r in caplog.records if "push of" in r.message] == [
        f"push of agv_003 to {store.all()[0].callback_url} failed: cannot connect (retrying "
        "every 5 s; logged again when it changes)"]
    while not plant.is_silent("agv_003", clock.tick()):
        pass
    [result] = pusher.push_once()
    assert result.skipped == "silent" and result.ok and result.status is None


# --- pushes to a real Floorline -----------------------------------------------------------

@pytest.mark.live
def test_a_signed_push_is_accepted_and_stored_by_floorline(live_server, served, clock):
    fixtures.load(PLANT.read_text(encoding="utf-8"))
    db.session.commit()
    agv = db.session.scalar(select(Machine).filter_by(code="AGV-01"))
    url, plant, store = served([spec_for(agv)], silent=False)
    callback = f"{live_server}/api/v1/ingest"
    assert requests.post(f"{url}/subscriptions", timeout=5, json={
        "machine_id": agv.vendor_id, "callback_url": callback,
        "secret": agv.webhook_secret}).status_code == 201
    pusher = Pusher(plant, store, clock=clock)

    [result] = pusher.push_once()
    assert result.status == 202 and result.error is None
    expected = plant.reading(agv.vendor_id, clock()).values
    db.session.expire_all()
    state = db.session.get(MachineState, agv.id)
    assert state is not None and state.values == expected and state.readings_stored == 1
    rows = db.session.scalars(select(Reading).where(Reading.machine_id == agv.id)).all()
    assert [(r.values, r.source) for r in rows] == [(expected, "webhook")]

    # A minute of pushes: every one accepted, repeated values skipped by change-only storage.
    for _ in range(12):
        clock.tick()
        assert [r.status for r in pusher.push_once()] == [202]
    db.session.expire_all()
    state = db.session.get(MachineState, agv.id)
    assert state.readings_stored + state.readings_unchanged == 13
    assert state.readings_unchanged >= 1

    # A subscription with the wrong secret is refused: the signature is what Floorline trusts.
    store.upsert(agv.vendor_id, callback, "not-the-secret")
    [refused] = pusher.push_once(clock.tick())
    assert refused.status == 401 and "signature" in refused.error


def test_the_poll_job_against_the_simulator(served, clock):
    """The demo plant polled through the simulator's data URLs: all stored, then the silent
    machine is marked unreachable with the vendor's answer, and recovers."""
    from app.blueprints.telemetry import poll
    from app.blueprints.telemetry.models import MachineState
    from app.core.extensions import redis_client
    from app.jobs import polling

    fixtures.load(PLANT.read_text(encoding="utf-8"))
    url, plant, _ = served(load_specs(), silent="CNC-02")
    polled = db.session.scalars(select(Machine).where(Machine.polling_enabled.is_(True))).all()
    for machine in polled:  # the plant file points at port 8100; this simulator is elsewhere
        machine.data_url = machine.data_url.replace("http://127.0.0.1:8100", url)
    db.session.commit()
    redis_client().delete(poll.LOCK_KEY)
    first = polling.poll_machines()
    assert first["machines"] == len(polled) == 7
    assert first["failures"] == 0 and first["stored"] == 7
    silent = next(m for m in polled if m.code == plant.silent_code == "CNC-02")
    statuses = set()
    for _ in range(15 * 60 // 20):
        clock.tick(20)
        polling.poll_machines()
        db.session.expire_all()
        statuses.add(db.session.get(MachineState, silent.id).reachable)
    assert statuses == {True, False}
