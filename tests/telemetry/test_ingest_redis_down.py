"""Ingest with Redis stopped: the readings are stored, the live update is skipped and logged.

The app here has a Redis of its own (a real redis-server on a free port) that the test
stops, so the shared test Redis is never touched. It commits for real (`live`), as the
webhook does.
"""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis
from sqlalchemy import func, select

from app import create_app
from app.blueprints.api.ingest import signature_for
from app.blueprints.telemetry.models import MachineState, Reading
from app.core.extensions import db
from config import TestConfig
from scripts.services import redis_binary, start_redis

pytestmark = pytest.mark.live


@pytest.fixture
def own_redis(tmp_path):
    try:
        redis_binary()
    except Exception as exc:  # no redis-server here: the conftest turns a skip into a failure in CI
        pytest.skip(f"no redis-server: {exc}")
    service = start_redis(tmp_path / "redis")
    yield service
    service.stop()


@pytest.fixture
def served(app, own_redis):
    """A second app on the test database whose Redis is `own_redis`."""
    config = type("OwnRedis", (TestConfig,), {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": own_redis.url, "LIVE_CHANNEL_PREFIX": "redis-down-test"})
    other = create_app(config)
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def cnc(make_machine, make_machine_type):
    return make_machine(code="CNC-01", machine_type=make_machine_type())


def _ts(minutes):
    base = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    return (base + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _single(client, machine, minutes):
    body = json.dumps({"machine": machine.code, "ts": _ts(minutes),
                       "values": {"temperature": 40 + minutes}}).encode()
    return client.post("/api/v1/ingest", data=body, headers={
        "Content-Type": "application/json",
        "X-Floorline-Signature": signature_for(machine.webhook_secret, body)})


def _batch(client, app, machine, minutes):
    body = json.dumps({"readings": [
        {"machine": machine.code, "ts": _ts(m), "values": {"temperature": 40 + m}}
        for m in minutes]}).encode()
    return client.post("/api/v1/ingest", data=body, headers={
        "Content-Type": "application/json",
        "X-Floorline-Signature": signature_for(app.config["INGEST_KEY"], body)})


def _stored(machine):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Reading)
                             .where(Reading.machine_id == machine.id))


def test_with_redis_up_the_live_update_goes_out(served, own_redis, cnc):
    listener = Redis.from_url(own_redis.url).pubsub()
    listener.subscribe("redis-down-test:events")
    listener.get_message(timeout=2)  # the subscribe confirmation

    assert _single(served.test_client(), cnc, 0).status_code == 202

    message = listener.get_message(timeout=5)
    assert message is not None and message["type"] == "message"
    assert json.loads(message["data"]) == [{"event": "telemetry.updated", "ids": [cnc.id]}]
    listener.close()


def test_with_redis_stopped_readings_are_stored_and_the_skipped_update_is_logged(
        served, own_redis, cnc, caplog):
    client = served.test_client()
    assert _single(client, cnc, 0).status_code == 202  # Redis up: the client connected
    own_redis.stop()
    caplog.set_level(logging.WARNING, logger="app.realtime.publish")

    single = _single(client, cnc, 1)
    batch = _batch(client, served, cnc, [2, 3, 4])

    assert single.status_code == 202 and single.json["stored"] == 1
    assert batch.status_code == 202 and batch.json["stored"] == 3
    assert _stored(cnc) == 5
    state = db.session.get(MachineState, cnc.id)
    assert state.values == {"temperature": 44} and state.readings_stored == 5
    skipped = [r.getMessage() for r in caplog.records if r.name == "app.realtime.publish"]
    assert skipped == ["live updates telemetry.updated not sent: Redis unavailable"] * 2
