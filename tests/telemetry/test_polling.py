"""The poll job against real HTTP peers on loopback: answers, failures, timeouts, overruns."""

import contextlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from app.blueprints.telemetry import poll
from app.blueprints.telemetry.models import MachineState, PollCycle, Reading
from app.core.extensions import db, redis_client
from app.jobs import polling
from app.realtime.publish import live_channel


class Vendor:
    """A vendor whose data URLs answer what the test says: JSON, an error, or slowly."""

    def __init__(self):
        self.answers = {}   # path → (status, body, delay seconds)
        self.hits = []
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                vendor.hits.append(self.path)
                status, body, delay = vendor.answers.get(self.path, (404, "{}", 0))
                time.sleep(delay)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def vendor():
    v = Vendor()
    yield v
    v.stop()


@pytest.fixture(autouse=True)
def _free_poll_lock(app):
    redis_client().delete(poll.LOCK_KEY)
    yield
    redis_client().delete(poll.LOCK_KEY)


@pytest.fixture
def polled(make_machine, make_machine_type, vendor):
    machine_type = make_machine_type(metrics=(("temperature", "Temperature", "°C", 20, 70),))

    def make(code, answer=None, status=200, delay=0, polling_enabled=True):
        path = f"/machines/{code}/data"
        vendor.answers[path] = (status, answer if answer is not None else {}, delay)
        return make_machine(code=code, machine_type=machine_type,
                            data_url=vendor.url + path, polling_enabled=polling_enabled)
    return make


def _reading(temperature, ts="2026-11-22T10:00:00Z"):
    return {"machine_id": "x", "ts": ts, "values": {"temperature": temperature}}


def _state(machine):
    db.session.expire_all()
    return db.session.get(MachineState, machine.id)


def test_cycle_ingests_every_polled_machine(polled, vendor):
    a = polled("POLL-A", _reading(40.0))
    b = polled("POLL-B", {"readings": [_reading(41.0), _reading(42.0, "2026-11-22T10:00:20Z")]})
    polled("POLL-OFF", _reading(1.0), polling_enabled=False)
    result = polling.poll_machines()
    assert result["machines"] == 2 and result["failures"] == 0 and result["stored"] == 3
    assert _state(a).values == {"temperature": 40.0} and _state(a).reachable
    assert _state(b).values == {"temperature": 42.0}
    assert "/machines/POLL-OFF/data" not in vendor.hits
    cycle = db.session.scalars(select(PollCycle)).one()
    assert cycle.machines == 2 and not cycle.skipped and cycle.duration_ms >= 0
    assert {r.source for r in db.session.scalars(select(Reading))} == {"poll"}


def test_unchanged_answers_are_not_stored_twice(polled, vendor):
    machine = polled("POLL-A", _reading(40.0))
    polling.poll_machines()
    # The vendor answers the same values at a new time: seen, not stored.
    vendor.answers["/machines/POLL-A/data"] = (200, _reading(40.0, "2026-11-22T10:00:20Z"), 0)
    result = polling.poll_machines()
    assert result["stored"] == 0
    state = _state(machine)
    assert state.readings_stored == 1 and state.readings_unchanged == 1


@pytest.mark.parametrize("status, body, reason", [
    (503, {"error": "busy"}, "HTTP 503"),
    (200, "<html>oops</html>", "did not answer JSON"),
    (200, {"hello": 1}, "neither values nor readings"),
    (200, _reading("hot"), "rejected: temperature must be a number"),
])
def test_failures_mark_the_machine_unreachable_with_the_reason(polled, status, body, reason):
    good = polled("POLL-OK", _reading(40.0))
    bad = polled("POLL-BAD", body, status=status)
    result = polling.poll_machines()
    assert result["failures"] == 1
    state = _state(bad)
    assert state.reachable is False and reason in state.last_error
    assert state.poll_failures == 1
    assert _state(good).reachable is True
    polling.poll_machines()
    assert _state(bad).poll_failures == 2  # retried next cycle, still failing


def test_connection_refused_is_a_failure_not_a_crash(polled, make_machine, make_machine_type):
    machine = make_machine(code="POLL-GONE", machine_type=make_machine_type(),
                           data_url="http://127.0.0.1:9/data", polling_enabled=True)
    result = polling.poll_machines()
    assert result["failures"] == 1
    assert "cannot connect" in _state(machine).last_error


def test_a_machine_that_recovers_is_reachable_again(polled, vendor):
    machine = polled("POLL-A", {"error": "down"}, status=500)
    polling.poll_machines()
    assert _state(machine).reachable is False
    vendor.answers["/machines/POLL-A/data"] = (200, _reading(50.0), 0)
    polling.poll_machines()
    state = _state(machine)
    assert state.reachable is True and state.last_error is None and state.poll_failures == 0


def test_a_slow_machine_times_out_and_the_others_still_arrive(app, polled):
    app.config["POLL_TIMEOUT_SECONDS"], old = 0.3, app.config["POLL_TIMEOUT_SECONDS"]
    try:
        slow = polled("POLL-SLOW", _reading(40.0), delay=1.5)
        fast = polled("POLL-FAST", _reading(41.0))
        started = time.monotonic()
        result = polling.poll_machines()
        elapsed = time.monotonic() - started
    finally:
        app.config["POLL_TIMEOUT_SECONDS"] = old
    assert result["failures"] == 1
    assert "no answer within 0.3 s" in _state(slow).last_error
    assert _state(fast).values == {"temperature": 41.0}
    assert elapsed < 1.5  # the slow machine did not hold up the cycle


def test_machines_are_fetched_concurrently(app, polled):
    for n in range(8):
        polled(f"POLL-{n}", _reading(40.0 + n), delay=0.4)
    started = time.monotonic()
    result = polling.poll_machines()
    assert result["failures"] == 0 and result["stored"] == 8
    assert time.monotonic() - started < 8 * 0.4 / 2


def test_an_overrunning_cycle_is_not_stacked(app, polled):
    """A second cycle started while the first still runs records a skip and does nothing."""
    polled("POLL-SLOW", _reading(40.0), delay=1.0)
    outcome = {}

    def second_cycle():
        time.sleep(0.3)  # the first cycle holds the lock by now
        with app.app_context():
            outcome["second"] = polling.poll_machines()

    thread = threading.Thread(target=second_cycle)
    thread.start()
    first = polling.poll_machines()
    thread.join()
    assert outcome["second"] == {"skipped": True}
    assert first["machines"] == 1 and first["stored"] == 1
    cycles = db.session.scalars(select(PollCycle).order_by(PollCycle.id)).all()
    assert [c.skipped for c in cycles].count(True) == 1
    # And once it is over, the next cycle runs normally.
    assert polling.poll_machines().get("skipped") is None


STATE_WRITE = re.compile(r"\s*(INSERT INTO|UPDATE) machine_states\b", re.IGNORECASE)


def _state_writes_of_a_cycle(count_queries):
    """The statements one poll cycle sends that write machine_states."""
    with count_queries() as statements:
        polling.poll_machines()
    return sum(1 for statement in statements if STATE_WRITE.match(statement))


def test_state_writes_of_a_cycle_do_not_grow_with_the_machines(polled, vendor, count_queries):
    """One ingest() for the whole cycle and one write of every poll outcome, not a state
    write per machine: 3 and 12 machines (answering, down, rejected) cost the same."""
    def machines(first, count):
        for n in range(first, first + count):
            polled(f"POLL-OK{n}", _reading(40.0 + n, f"2026-11-22T10:{n:02d}:00Z"))
            polled(f"POLL-DOWN{n}", {"error": "down"}, status=503)
            polled(f"POLL-BAD{n}", _reading("hot"))

    machines(0, 1)
    few = _state_writes_of_a_cycle(count_queries)
    machines(1, 3)
    many = _state_writes_of_a_cycle(count_queries)
    assert 0 < few == many
    assert db.session.scalars(select(PollCycle.machines).order_by(PollCycle.id)).all() == [3, 12]
    states = db.session.scalars(select(MachineState)).all()
    assert len(states) == 12 and {s.last_polled_at is not None for s in states} == {True}


@contextlib.contextmanager
def _live_events():
    """The live events published while the block runs (the poll commits for real)."""
    listener = redis_client().pubsub(ignore_subscribe_messages=True)
    listener.subscribe(live_channel())
    listener.get_message(timeout=1)  # the subscription is confirmed before anything runs
    events = []
    try:
        yield events
        while message := listener.get_message(timeout=0.5):
            # One message per commit, each a list of events; only the telemetry ones count.
            events.extend(e for e in json.loads(message["data"])
                          if e["event"] == "telemetry.updated")
    finally:
        listener.close()


def test_a_machine_that_stops_answering_is_announced_once(polled, vendor):
    machine = polled("POLL-A", _reading(40.0))
    polling.poll_machines()
    vendor.answers["/machines/POLL-A/data"] = (503, {"error": "busy"}, 0)
    with _live_events() as events:
        polling.poll_machines()  # it stops answering: the screens are told
        polling.poll_machines()  # still not answering: nothing new to tell
    assert events == [{"event": "telemetry.updated", "ids": [machine.id]}]


def test_plant_page_says_how_the_poll_keeps_up(logged_in, polled):
    polled("POLL-A", _reading(40.0))
    polled("POLL-B", {"error": "down"}, status=503)
    polling.poll_machines()
    browser, _ = logged_in("production_manager")
    html = browser.get("/").get_data(as_text=True)
    assert "Last poll just now: 2 machines" in html and "1 not reachable" in html


def test_partitions_job_prepares_the_coming_months(app):
    from app.jobs.housekeeping import ensure_reading_partitions

    created = ensure_reading_partitions()
    if db.session.get_bind().dialect.name != "postgresql":
        assert created == []
        return
    # The migration made them already; running again is harmless and creates nothing.
    assert created == []
    names = db.session.execute(db.text(
        "SELECT relname FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid "
        "WHERE i.inhparent = 'readings'::regclass")).scalars().all()
    assert "readings_default" in names and len(names) >= 4


def test_readings_land_in_their_month_partition(app, polled):
    from datetime import UTC, date, datetime

    from app.blueprints.telemetry.ingest import ingest
    from app.blueprints.telemetry.partitions import ensure_partitions

    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("partitioning is PostgreSQL's")
    created = ensure_partitions(db.session.connection(), today=date(2026, 1, 15),
                                months_ahead=1)
    machine = polled("PART-1", _reading(1.0))
    ingest([{"ts": "2026-02-10T08:00:00Z", "values": {"temperature": 30.0}},
            {"ts": "2031-05-10T08:00:00Z", "values": {"temperature": 31.0}}],
           "poll", machine=machine, now=datetime(2031, 5, 10, 8, tzinfo=UTC))
    where = dict(db.session.execute(db.text(
        "SELECT (values->>'temperature')::float, tableoid::regclass::text FROM readings "
        "WHERE machine_id = :m"), {"m": machine.id}).all())
    assert created == ["readings_2026_01", "readings_2026_02"]
    assert where == {30.0: "readings_2026_02", 31.0: "readings_default"}
