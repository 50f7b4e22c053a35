"""The ingest path's machine lookup is cached per process (app/blueprints/machines/lookup.py)
and a registry change made by another process reaches it at once.

Two app instances stand for two processes: each keeps its own snapshot, and they share
only the database. The tests commit for real (`live`), as two processes would.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import create_app
from app.blueprints.api.ingest import signature_for
from app.blueprints.machines import services
from app.blueprints.machines.lookup import machine_lookup
from app.blueprints.machines.models import Machine, Metric
from app.blueprints.telemetry.models import Reading
from app.core.extensions import db
from config import TestConfig

pytestmark = pytest.mark.live


@pytest.fixture
def other(app):
    """A second app on the same database: another web process."""
    config = type("OtherProcess", (TestConfig,), {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
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


def _post(client, code, minutes, secret, values=None):
    body = json.dumps({"machine": code, "ts": _ts(minutes),
                       "values": values or {"temperature": 40 + minutes}}).encode()
    return client.post("/api/v1/ingest", data=body, headers={
        "Content-Type": "application/json",
        "X-Floorline-Signature": signature_for(secret, body)})


def _in_other(other, fn):
    """Change the registry in the other process and commit there."""
    with other.app_context():
        result = fn()
        db.session.commit()
        return result


def _stored():
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Reading))


def _snapshot_version(app):
    with app.app_context():
        return machine_lookup().snapshot.version


def test_both_processes_answer_from_their_own_snapshot(app, other, cnc):
    assert _post(app.test_client(), "CNC-01", 0, cnc.webhook_secret).status_code == 202
    assert _post(other.test_client(), "CNC-01", 1, cnc.webhook_secret).status_code == 202
    assert _stored() == 2
    # Both loaded the registry at the same version and kept it.
    assert _snapshot_version(app) == _snapshot_version(other) is not None


def test_a_secret_renewed_in_another_process_is_required_here_at_once(app, other, cnc):
    client = app.test_client()
    old = cnc.webhook_secret
    assert _post(client, "CNC-01", 0, old).status_code == 202
    new = _in_other(other, lambda: services.rotate_webhook_secret(
        db.session.get(Machine, cnc.id)))

    refused = _post(client, "CNC-01", 1, old)
    assert refused.status_code == 401
    assert refused.json == {"error": "bad signature: sign the raw body with the webhook "
                                     "secret of CNC-01"}
    assert _post(client, "CNC-01", 2, new).status_code == 202
    assert _stored() == 2


def test_a_machine_added_in_another_process_is_found_here(app, other, cnc):
    client = app.test_client()
    assert _post(client, "CNC-01", 0, cnc.webhook_secret).status_code == 202
    assert _post(client, "CNC-02", 0, "whatever").status_code == 404

    secret = _in_other(other, lambda: services.save_machine(
        Machine(), code="CNC-02", name="Second mill",
        machine_type=db.session.get(Machine, cnc.id).machine_type).webhook_secret)
    assert _post(client, "CNC-02", 1, secret).status_code == 202


def test_a_metric_removed_in_another_process_is_refused_here_and_nothing_is_written(
        app, other, cnc):
    client = app.test_client()
    values = {"temperature": 50.0}
    assert _post(client, "CNC-01", 0, cnc.webhook_secret, values).status_code == 202
    before = _snapshot_version(app)

    def remove_temperature():
        machine_type = db.session.get(Machine, cnc.id).machine_type
        services.delete_metric(machine_type.metric("temperature"))

    _in_other(other, remove_temperature)
    # This process's snapshot still knows the metric: the writing statement sees the
    # version moved, writes nothing, and the reading is checked again against the registry.
    answer = _post(client, "CNC-01", 1, cnc.webhook_secret, {"temperature": 51.0})
    assert answer.status_code == 422
    assert "unknown metric 'temperature'" in answer.json["error"]
    assert _stored() == 1
    assert _snapshot_version(app) != before


def test_a_metric_added_in_another_process_is_accepted_in_a_batch_here(app, other, cnc):
    client = app.test_client()
    assert _post(client, "CNC-01", 0, cnc.webhook_secret).status_code == 202

    def add_pressure():
        machine_type = db.session.get(Machine, cnc.id).machine_type
        services.save_metric(machine_type, Metric(), "pressure", "Pressure", "bar")

    _in_other(other, add_pressure)
    body = json.dumps({"readings": [
        {"machine": "CNC-01", "ts": _ts(1), "values": {"pressure": 6.2}},
        {"machine": "CNC-01", "ts": _ts(2), "values": {"pressure": 6.4}}]}).encode()
    answer = client.post("/api/v1/ingest", data=body, headers={
        "Content-Type": "application/json",
        "X-Floorline-Signature": signature_for(app.config["INGEST_KEY"], body)})
    assert answer.status_code == 202
    assert answer.json["stored"] == 2 and answer.json["rejected"] == 0


def test_the_registry_version_moves_with_every_write_and_never_comes_back(app, cnc):
    from app.blueprints.machines.lookup import current_version

    first = current_version()
    machine = db.session.get(Machine, cnc.id)
    machine.notes = "moved to hall 2"
    db.session.flush()
    inside = current_version()
    db.session.rollback()
    assert current_version() == first  # rolled back with the change
    machine = db.session.get(Machine, cnc.id)
    machine.notes = "moved to hall 3"
    db.session.commit()
    # A new value, never the one the rolled-back transaction had: a snapshot built inside
    # that transaction can never be taken for the registry as it is now.
    assert current_version() not in (first, inside)
