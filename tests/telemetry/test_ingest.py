"""POST /api/v1/ingest and the change-only storage rules behind it."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.blueprints.api.ingest import signature_for
from app.blueprints.telemetry.ingest import ingest
from app.blueprints.telemetry.models import MachineState, Reading
from app.core.extensions import db

METRICS = (("temperature", "Temperature", "°C", 20, 70), ("speed", "Speed", "rpm", 0, 15000))


@pytest.fixture
def machine(make_machine, make_machine_type):
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Metric

    machine_type = make_machine_type(metrics=METRICS)
    services.save_metric(machine_type, Metric(), "running", "Running", kind="boolean",
                         role="running")
    services.save_metric(machine_type, Metric(), "mode", "Mode", kind="text")
    return make_machine(code="CNC-07", machine_type=machine_type, vendor_id="cnc_milling_007")


def _post(client, payload, secret, raw=None, headers=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    sent = {"Content-Type": "application/json"}
    if secret is not None:
        sent["X-Floorline-Signature"] = signature_for(secret, body)
    sent.update(headers or {})
    return client.post("/api/v1/ingest", data=body, headers=sent)


def _count(model=Reading):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def _ts(minutes=0):
    base = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    return (base + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_single_signed_reading_is_stored(client, machine):
    response = _post(client, {"machine": "CNC-07", "ts": _ts(),
                              "values": {"temperature": 71.5, "running": True}},
                     machine.webhook_secret)
    assert response.status_code == 202
    assert response.json == {"stored": 1, "unchanged": 0, "duplicates": 0, "rejected": 0,
                             "rejections": []}
    state = db.session.get(MachineState, machine.id)
    assert state.values == {"temperature": 71.5, "running": True}
    assert state.last_seen_at is not None and state.reachable is True
    reading = db.session.scalars(select(Reading)).one()
    assert reading.source == "webhook" and reading.ts.isoformat().startswith("2026-11-22T10:00")


def test_vendor_id_works_as_the_machine_key(client, machine):
    response = _post(client, {"machine": "cnc_milling_007", "ts": _ts(),
                              "values": {"temperature": 50}}, machine.webhook_secret)
    assert response.status_code == 202 and _count() == 1


@pytest.mark.parametrize("secret, header, status", [
    (None, None, 401),                      # no signature at all
    ("wrong-secret", None, 401),            # signed with something else
    (None, "sha256=deadbeef", 401),         # garbage signature
])
def test_bad_signatures_are_refused(client, machine, secret, header, status):
    headers = {"X-Floorline-Signature": header} if header else {}
    response = _post(client, {"machine": "CNC-07", "ts": _ts(), "values": {"speed": 1}},
                     secret, headers=headers)
    assert response.status_code == status
    assert "Signature" in response.json["error"] or "signature" in response.json["error"]
    assert _count() == 0


def test_signature_must_cover_the_exact_body(client, machine):
    body = json.dumps({"machine": "CNC-07", "ts": _ts(), "values": {"speed": 1}}).encode()
    tampered = body.replace(b'"speed": 1', b'"speed": 9')
    response = client.post("/api/v1/ingest", data=tampered, headers={
        "X-Floorline-Signature": signature_for(machine.webhook_secret, body)})
    assert response.status_code == 401 and _count() == 0


def test_malformed_json_is_400(client, machine):
    response = _post(client, None, machine.webhook_secret, raw=b'{"machine": "CNC-07",')
    assert response.status_code == 400 and "malformed JSON" in response.json["error"]


def test_unknown_machine_is_404(client, machine):
    response = _post(client, {"machine": "NOPE-1", "ts": _ts(), "values": {"speed": 1}},
                     machine.webhook_secret)
    assert response.status_code == 404 and "NOPE-1" in response.json["error"]


@pytest.mark.parametrize("values, reason", [
    ({"temperature": "hot"}, "temperature must be a number"),
    ({"running": 1}, "running must be true or false"),
    ({"mode": 5}, "mode must be a text"),
    ({"pressure": 3}, "unknown metric 'pressure'"),
    ({}, "at least one metric"),
    ({"temperature": True}, "temperature must be a number"),
])
def test_values_that_do_not_fit_the_type_are_422(client, machine, values, reason):
    response = _post(client, {"machine": "CNC-07", "ts": _ts(), "values": values},
                     machine.webhook_secret)
    assert response.status_code == 422
    assert reason in response.json["error"]
    assert _count() == 0 and _count(MachineState) == 0


@pytest.mark.parametrize("ts, reason", [
    ("yesterday", "not an ISO 8601 time"),
    (None, "ts must be an ISO 8601 text"),
    # A fixed id: pytest-xdist workers must collect the same test names.
    pytest.param((datetime.now(UTC) + timedelta(hours=2)).isoformat(), "in the future",
                 id="in-two-hours-in the future"),
])
def test_bad_timestamps_are_422(client, machine, ts, reason):
    response = _post(client, {"machine": "CNC-07", "ts": ts, "values": {"speed": 1}},
                     machine.webhook_secret)
    assert response.status_code == 422 and reason in response.json["error"]


def test_body_over_the_limit_is_413(app, client, machine):
    app.config["INGEST_MAX_BYTES"], old = 200, app.config["INGEST_MAX_BYTES"]
    try:
        response = _post(client, {"machine": "CNC-07", "ts": _ts(),
                                  "values": {"mode": "x" * 300}}, machine.webhook_secret)
    finally:
        app.config["INGEST_MAX_BYTES"] = old
    assert response.status_code == 413


def test_a_reading_that_is_not_an_object_is_422(client, machine):
    response = _post(client, [1, 2], machine.webhook_secret)
    assert response.status_code == 422


# --- batches -------------------------------------------------------------------------------

def test_batch_signed_with_the_ingest_key(app, client, machine, make_machine):
    other = make_machine(code="CNC-08", machine_type=machine.machine_type)
    readings = [{"machine": "CNC-07", "ts": _ts(n), "values": {"speed": 100 + n}}
                for n in range(3)]
    readings.append({"machine": "CNC-08", "ts": _ts(), "values": {"speed": 5}})
    response = _post(client, {"readings": readings}, app.config["INGEST_KEY"])
    assert response.status_code == 202
    assert response.json["stored"] == 4
    assert db.session.get(MachineState, other.id).values == {"speed": 5}


def test_batch_with_a_machine_secret_is_refused(client, machine):
    response = _post(client, {"readings": [{"machine": "CNC-07", "ts": _ts(),
                                            "values": {"speed": 1}}]},
                     machine.webhook_secret)
    assert response.status_code == 401 and "ingest key" in response.json["error"]


def test_bad_readings_in_a_batch_are_rejected_alone(app, client, machine):
    readings = [
        {"machine": "CNC-07", "ts": _ts(0), "values": {"speed": 1}},
        {"machine": "CNC-07", "ts": _ts(1), "values": {"speed": "fast"}},
        {"machine": "GHOST", "ts": _ts(2), "values": {"speed": 2}},
        "not a reading",
        {"machine": "CNC-07", "ts": _ts(3), "values": {"speed": 3}},
    ]
    response = _post(client, {"readings": readings}, app.config["INGEST_KEY"])
    assert response.status_code == 202
    body = response.json
    assert body["stored"] == 2 and body["rejected"] == 3
    reasons = {r["index"]: r["reasons"] for r in body["rejections"]}
    assert reasons[1] == ["speed must be a number, not str"]
    assert reasons[2] == ["unknown machine 'GHOST'"]
    assert reasons[3] == ["a reading must be an object"]


def test_batch_over_the_reading_limit_is_413(app, client, machine):
    app.config["INGEST_MAX_BATCH"], old = 3, app.config["INGEST_MAX_BATCH"]
    try:
        readings = [{"machine": "CNC-07", "ts": _ts(n), "values": {"speed": n}}
                    for n in range(4)]
        response = _post(client, {"readings": readings}, app.config["INGEST_KEY"])
    finally:
        app.config["INGEST_MAX_BATCH"] = old
    assert response.status_code == 413 and _count() == 0


def test_readings_not_a_list_is_422(app, client, machine):
    response = _post(client, {"readings": {"a": 1}}, app.config["INGEST_KEY"])
    assert response.status_code == 422


def test_batch_refused_when_no_ingest_key_is_configured(app, client, machine):
    app.config["INGEST_KEY"], old = "", app.config["INGEST_KEY"]
    try:
        response = _post(client, {"readings": []}, "anything")
    finally:
        app.config["INGEST_KEY"] = old
    assert response.status_code == 401


# --- change-only storage and duplicates ----------------------------------------------------

def test_unchanged_readings_update_last_seen_only(machine):
    first = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    ingest([{"ts": _ts(0), "values": {"temperature": 60.0, "speed": 100}}], "poll",
           machine=machine, now=first)
    later = first + timedelta(minutes=5)
    result = ingest([{"ts": _ts(1), "values": {"temperature": 60, "speed": 100}}], "poll",
                    machine=machine, now=later)
    db.session.commit()
    assert (result.stored, result.unchanged) == (0, 1)
    state = db.session.get(MachineState, machine.id)
    assert state.last_seen_at == later and state.last_changed_at == first
    assert state.readings_stored == 1 and state.readings_unchanged == 1
    assert _count() == 1


def test_a_partial_reading_compares_only_its_own_metrics(machine):
    ingest([{"ts": _ts(0), "values": {"temperature": 60.0, "speed": 100}}], "poll",
           machine=machine)
    same_temperature = ingest([{"ts": _ts(1), "values": {"temperature": 60.0}}], "poll",
                              machine=machine)
    new_speed = ingest([{"ts": _ts(2), "values": {"speed": 120}}], "poll", machine=machine)
    db.session.commit()
    assert same_temperature.unchanged == 1 and new_speed.stored == 1
    assert db.session.get(MachineState, machine.id).values == {"temperature": 60.0,
                                                               "speed": 120}


def test_true_is_not_the_same_as_one(machine):
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Metric

    services.save_metric(machine.machine_type, Metric(), "flag_count", "Flags")
    ingest([{"ts": _ts(0), "values": {"flag_count": 1}}], "poll", machine=machine)
    result = ingest([{"ts": _ts(1), "values": {"flag_count": 1.0}}], "poll", machine=machine)
    assert result.unchanged == 1


def test_same_device_timestamp_twice_is_stored_once(client, machine):
    payload = {"machine": "CNC-07", "ts": _ts(), "values": {"speed": 7}}
    first = _post(client, payload, machine.webhook_secret)
    payload["values"] = {"speed": 8}  # even with other values: same moment, same reading
    second = _post(client, payload, machine.webhook_secret)
    assert first.json["stored"] == 1
    assert second.status_code == 202 and second.json["duplicates"] == 1
    assert _count() == 1


def test_duplicates_inside_one_batch(app, client, machine):
    reading = {"machine": "CNC-07", "ts": _ts(), "values": {"speed": 7}}
    response = _post(client, {"readings": [reading, dict(reading), dict(reading)]},
                     app.config["INGEST_KEY"])
    assert response.json["stored"] == 1 and response.json["duplicates"] == 2


def test_a_late_reading_is_history_not_the_latest_state(machine):
    ingest([{"ts": _ts(10), "values": {"speed": 200}}], "poll", machine=machine)
    late = ingest([{"ts": _ts(5), "values": {"speed": 150}}], "poll", machine=machine)
    db.session.commit()
    assert late.stored == 1 and _count() == 2
    state = db.session.get(MachineState, machine.id)
    assert state.values == {"speed": 200} and state.reading_ts.minute == 10


def test_a_batch_is_applied_in_device_time_order(machine):
    result = ingest([
        {"ts": _ts(2), "values": {"speed": 3}},
        {"ts": _ts(0), "values": {"speed": 1}},
        {"ts": _ts(1), "values": {"speed": 1}},   # same as the one before it in time
    ], "batch", machine=machine)
    db.session.commit()
    assert (result.stored, result.unchanged) == (2, 1)
    assert db.session.get(MachineState, machine.id).values == {"speed": 3}


def test_stored_readings_publish_one_live_event_per_batch(app, machine):
    from app.realtime import pending_events

    ingest([{"ts": _ts(n), "values": {"speed": n}} for n in range(5)], "poll",
           machine=machine)
    assert pending_events() == [{"event": "telemetry.updated", "ids": [machine.id]}]
    db.session.rollback()
