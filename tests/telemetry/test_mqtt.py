"""The MQTT subscriber against a real Mosquitto on 127.0.0.1:1883.

The subscriber runs in threads of this process with the test app and commits for real
(hence `live`). Each test subscribes under its own topic prefix, so parallel runs sharing
the broker never see each other's messages.
"""

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from app.blueprints.telemetry.models import Reading
from app.core.extensions import db

BROKER = ("127.0.0.1", 1883)
ROOT = Path(__file__).resolve().parents[2]


def _listening(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not _listening(*BROKER),
                       reason="no MQTT broker listens on 127.0.0.1:1883 (start mosquitto)"),
]


# --- helpers -------------------------------------------------------------------------------

def _reading(temperature, seconds_ago=0, **extra):
    ts = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {"ts": ts.isoformat().replace("+00:00", "Z"),
            "values": {"temperature": temperature}, **extra}


def _rows(machine_id=None):
    """(source, values) of stored readings, oldest first; ends the read transaction."""
    query = select(Reading.source, Reading.values).order_by(Reading.ts)
    if machine_id is not None:
        query = query.where(Reading.machine_id == machine_id)
    rows = [tuple(row) for row in db.session.execute(query)]
    db.session.rollback()
    return rows


def _wait_for(check, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)
    return value


def _subscriber(app, prefix, url="mqtt://127.0.0.1:1883"):
    from app.blueprints.telemetry.cli import mqtt_subscriber

    return mqtt_subscriber(app, url=url, prefix=prefix)


@pytest.fixture
def prefix():
    return f"floorline-test-{uuid.uuid4().hex}"


@pytest.fixture
def subscriber(app, prefix):
    sub = _subscriber(app, prefix)
    sub.start()
    try:
        assert sub.subscribed.wait(10), "the subscriber did not subscribe within 10 s"
        yield sub
    finally:
        sub.stop()


def _publisher(port=BROKER[1]):
    client = paho.Client(CallbackAPIVersion.VERSION2,
                         client_id=f"floorline-test-pub-{uuid.uuid4().hex[:8]}")
    client.connect(BROKER[0], port)
    client.loop_start()
    return client


@pytest.fixture
def publish(prefix):
    """publish(machine_key, payload): to <prefix>/<machine_key>/readings, QoS 1, acknowledged."""
    client = _publisher()

    def send(machine_key, payload, wait=True):
        body = payload if isinstance(payload, bytes) else json.dumps(payload)
        info = client.publish(f"{prefix}/{machine_key}/readings", body, qos=1)
        if wait:
            info.wait_for_publish(5)
        return info
    yield send
    client.disconnect()
    client.loop_stop()


@pytest.fixture
def cnc(make_machine, make_machine_type):
    return make_machine(code="CNC-07", machine_type=make_machine_type())


# --- storing -------------------------------------------------------------------------------

def test_reading_on_the_code_topic_is_stored_with_source_mqtt(subscriber, publish, cnc):
    publish("CNC-07", _reading(71.5, machine="CNC-07"))
    rows = _wait_for(lambda: _rows(cnc.id), "the reading to be stored")
    assert rows == [("mqtt", {"temperature": 71.5})]
    # The counters are updated after the commit that made the row visible.
    _wait_for(lambda: subscriber.stats()["stored"] == 1, "the reading counted")


def test_reading_on_the_vendor_id_topic_is_stored(subscriber, publish, make_machine):
    machine = make_machine(code="PRESS-2", vendor_id="acme-4711")
    publish("acme-4711", _reading(55.0))  # no "machine" field: the topic names it
    publish("acme-4711", _reading(56.0, machine="PRESS-2"))  # the code agrees with the topic
    rows = _wait_for(lambda: len(_rows(machine.id)) == 2 and _rows(machine.id),
                     "both readings to be stored")
    assert {values["temperature"] for _, values in rows} == {55.0, 56.0}


def test_an_unchanged_second_reading_is_not_stored_again(subscriber, publish, cnc):
    publish("CNC-07", _reading(60.0, seconds_ago=10))
    _wait_for(lambda: _rows(cnc.id), "the first reading")
    publish("CNC-07", _reading(60.0))
    _wait_for(lambda: subscriber.stats()["unchanged"] == 1, "the second reading to be handled")
    assert _rows(cnc.id) == [("mqtt", {"temperature": 60.0})]


def test_a_batch_message_stores_several_readings(subscriber, publish, cnc):
    publish("CNC-07", {"readings": [_reading(70.0, 30), _reading(71.0, 20), _reading(72.0, 10),
                                    _reading("hot", 5)]})
    rows = _wait_for(lambda: len(_rows(cnc.id)) == 3 and _rows(cnc.id), "three readings")
    assert [values["temperature"] for _, values in rows] == [70.0, 71.0, 72.0]
    assert {source for source, _ in rows} == {"mqtt"}
    # The counters are updated after the commit that made the rows visible.
    _wait_for(lambda: subscriber.stats()["rejected"] == 1, "the rejection counted")
    assert subscriber.stats()["rejected_invalid"] == 1


def test_messages_arriving_together_are_stored_in_few_batches(subscriber, publish, cnc,
                                                              make_machine):
    other = make_machine(code="CNC-08")
    sent = [publish(code, _reading(50.0 + n, seconds_ago=60 - n), wait=False)
            for n in range(20) for code in ("CNC-07", "CNC-08")]
    for info in sent:
        info.wait_for_publish(5)
    _wait_for(lambda: len(_rows()) == 40, "40 readings")
    assert len(_rows(cnc.id)) == len(_rows(other.id)) == 20
    assert subscriber.stats()["batches"] < 10  # 40 messages, sent within a few ms


# --- rejecting -----------------------------------------------------------------------------

def test_malformed_json_and_unknown_machines_are_counted_and_nothing_is_stored(
        subscriber, publish, cnc, caplog):
    caplog.set_level(logging.WARNING, logger="app.integrations.mqtt")
    publish("CNC-07", b'{"ts": "2026-01-22T10:00:00Z", "values": ')
    publish("NOPE-1", _reading(20.0))
    _wait_for(lambda: subscriber.stats()["rejected"] == 2, "two rejections")
    stats = subscriber.stats()
    assert (stats["rejected_malformed"], stats["rejected_unknown_machine"]) == (1, 1)
    assert stats["stored"] == 0 and _rows() == []
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("mqtt.rejected")]
    assert any("kind=malformed" in line and "malformed JSON" in line for line in lines)
    assert any("kind=unknown_machine" in line and "unknown machine 'NOPE-1'" in line
               for line in lines)


def test_a_reading_naming_another_machine_is_rejected_and_the_next_is_stored(
        subscriber, publish, cnc, make_machine):
    make_machine(code="CNC-99")
    publish("CNC-07", _reading(30.0, seconds_ago=5, machine="CNC-99"))
    publish("CNC-07", [1, 2])  # neither a reading nor a batch
    publish("CNC-07", _reading(31.0))
    rows = _wait_for(lambda: _rows(cnc.id), "the good reading")
    assert rows == [("mqtt", {"temperature": 31.0})]
    # The counters are updated after the commit that made the row visible.
    _wait_for(lambda: subscriber.stats()["rejected"] == 2, "both rejections counted")
    stats = subscriber.stats()
    assert (stats["rejected_machine_mismatch"], stats["rejected_malformed"]) == (1, 1)
    assert _rows() == rows  # nothing went to CNC-99 either


# --- settings and the process --------------------------------------------------------------

@pytest.mark.parametrize("url, prefix, message", [
    ("http://127.0.0.1:1883", None, "mqtt://host"),
    ("mqtt://127.0.0.1:99999", None, "bad port"),
    ("mqtt://127.0.0.1", "plant/+", "no + or #"),
])
def test_the_cli_refuses_bad_settings(app, url, prefix, message):
    from app.blueprints.telemetry import cli as mqtt_cli  # noqa: F401  (registers `machines mqtt`)

    args = ["telemetry", "mqtt", "--url", url] + (["--prefix", prefix] if prefix else [])
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2
    assert message in result.output


def test_broker_url_credentials_are_used_but_never_shown():
    from app.integrations.mqtt import Broker

    broker = Broker.from_url("mqtts://line%401:s%3Acret@broker.local")
    assert (broker.host, broker.port, broker.tls) == ("broker.local", 8883, True)
    assert (broker.username, broker.password) == ("line@1", "s:cret")
    assert "s:cret" not in str(broker) + repr(broker)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _mosquitto_binary():
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


class OwnBroker:
    """A throwaway Mosquitto on a free loopback port, to stop and start at will."""

    def __init__(self, binary, conf_dir):
        self.binary, self.port = binary, _free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.conf = conf_dir / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                             "persistence false\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(lambda: _listening("127.0.0.1", self.port), "the test broker", timeout=5)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def own_broker(tmp_path):
    binary = _mosquitto_binary()
    if binary is None:
        pytest.skip("the mosquitto binary is not installed")
    broker = OwnBroker(binary, tmp_path)
    yield broker
    broker.kill()


def test_the_subscriber_reconnects_after_the_broker_restarts(app, own_broker, prefix, cnc):
    own_broker.start()
    sub = _subscriber(app, prefix, url=own_broker.url)
    sub.start()
    try:
        assert sub.subscribed.wait(10)
        own_broker.kill()
        _wait_for(lambda: not sub.subscribed.is_set(), "the subscriber to notice")
        own_broker.start()
        assert sub.subscribed.wait(15), "no resubscription after the broker came back"
        client = _publisher(own_broker.port)
        client.publish(f"{prefix}/CNC-07/readings", json.dumps(_reading(42.0)),
                       qos=1).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()
        assert _wait_for(lambda: _rows(cnc.id), "the reading") == [("mqtt", {"temperature": 42.0})]
    finally:
        sub.stop()


SUBSCRIBER_SCRIPT = """
import sys
from app import create_app
from app.blueprints.telemetry.cli import mqtt_subscriber
from app.integrations.mqtt import run_until_signalled
from config import TestConfig
app = create_app(TestConfig)
with app.app_context():
    run_until_signalled(mqtt_subscriber(app, url="mqtt://127.0.0.1:1883", prefix=sys.argv[1]))
"""


def test_sigterm_stops_the_process_cleanly(prefix, publish, cnc):
    proc = subprocess.Popen([sys.executable, "-c", SUBSCRIBER_SCRIPT, prefix], cwd=ROOT,
                            env=os.environ.copy(), stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        _wait_for(lambda: proc.poll() is not None or any("mqtt.subscribed" in x for x in lines),
                  "the subscriber process to subscribe", timeout=30)
        publish("CNC-07", _reading(64.0))
        _wait_for(lambda: _rows(cnc.id), "the reading from the subscriber process")
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        reader.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = "".join(lines)
    assert proc.returncode == 0, log[-2000:]
    assert "mqtt.stopping signal=SIGTERM" in log
    assert "mqtt.stopped" in log and "stored=1" in log
