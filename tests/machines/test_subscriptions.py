"""Webhook subscriptions at the vendor (machines.subscriptions over app.integrations.vendor)
against the simulator's API."""

import socket
from datetime import UTC, datetime

import pytest

from app.blueprints.machines import services, subscriptions
from app.core.extensions import db
from app.integrations import vendor
from app.integrations.vendor import VendorError
from tools.simulator.machines import spec_for
from tools.simulator.server import Server, create_vendor_app
from tools.simulator.signals import Plant
from tools.simulator.subscriptions import SubscriptionStore


class FakeVendor:
    """The simulator's HTTP API on a free loopback port; VENDOR_API_URL points at it."""

    def __init__(self, tmp_path):
        self.plant = Plant(seed=1, now=datetime.now(UTC))
        self.store = SubscriptionStore(tmp_path / "subscriptions.json")
        self.server = Server(create_vendor_app(self.plant, self.store)).start()
        self.url = self.server.url
        self._specs = {}

    def knows(self, *machines):
        """The vendor learns of these machines (it reads them from its own records)."""
        for machine in machines:
            self._specs[machine.vendor_id] = spec_for(machine)
        self.plant.sync(self._specs.values(), datetime.now(UTC))

    def subscriptions(self):
        return self.store.all()


@pytest.fixture
def fake_vendor(app, tmp_path):
    fake = FakeVendor(tmp_path)
    before = app.config["VENDOR_API_URL"]
    app.config["VENDOR_API_URL"] = fake.url
    yield fake
    app.config["VENDOR_API_URL"] = before
    fake.server.stop()


@pytest.fixture
def public_base_url(app):
    before = app.config["PUBLIC_BASE_URL"]
    yield lambda url: app.config.__setitem__("PUBLIC_BASE_URL", url)
    app.config["PUBLIC_BASE_URL"] = before


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def vendor_down(app):
    before = app.config["VENDOR_API_URL"]
    app.config["VENDOR_API_URL"] = f"http://127.0.0.1:{closed_port()}"
    yield app.config["VENDOR_API_URL"]
    app.config["VENDOR_API_URL"] = before


def test_callback_url_comes_from_public_base_url(app, public_base_url):
    public_base_url("https://floor.example.com:8443/")
    assert vendor.callback_url() == "https://floor.example.com:8443/api/v1/ingest"


def test_subscribe_machine_is_idempotent(fake_vendor, make_machine):
    machine = make_machine(code="AGV-07", vendor_id="agv_007")
    fake_vendor.knows(machine)
    first = subscriptions.subscribe_machine(machine)
    subscribed_at = machine.subscribed_at
    second = subscriptions.subscribe_machine(machine)
    assert first == second == machine.subscription_id
    assert machine.subscribed_at == subscribed_at is not None
    [sub] = fake_vendor.subscriptions()
    assert (sub.id, sub.machine_id, sub.secret) == (first, "agv_007", machine.webhook_secret)
    assert sub.callback_url == vendor.callback_url()
    assert vendor.list_subscriptions() == [sub.public()]


def test_a_rotated_secret_reaches_the_vendor(fake_vendor, make_machine):
    machine = make_machine(vendor_id="agv_008")
    fake_vendor.knows(machine)
    first = subscriptions.subscribe_machine(machine)
    secret = services.rotate_webhook_secret(machine)
    assert subscriptions.subscribe_machine(machine) == first
    assert [s.secret for s in fake_vendor.subscriptions()] == [secret]


def test_a_new_public_address_replaces_the_old_subscription(fake_vendor, make_machine,
                                                            public_base_url):
    machine = make_machine(vendor_id="agv_009")
    fake_vendor.knows(machine)
    old = subscriptions.subscribe_machine(machine)
    public_base_url("http://floor.example:9000")
    new = subscriptions.subscribe_machine(machine)
    assert new != old and machine.subscription_id == new
    assert [(s.id, s.callback_url) for s in fake_vendor.subscriptions()] == [
        (new, "http://floor.example:9000/api/v1/ingest")]


def test_unsubscribe_machine_removes_it(fake_vendor, make_machine):
    machine = make_machine(vendor_id="agv_010")
    fake_vendor.knows(machine)
    subscriptions.subscribe_machine(machine)
    assert subscriptions.unsubscribe_machine(machine) is True
    assert fake_vendor.subscriptions() == []
    assert machine.subscription_id is None and machine.subscribed_at is None
    assert subscriptions.unsubscribe_machine(machine) is False   # nothing left to do


def test_a_subscription_the_vendor_lost_counts_as_removed(fake_vendor, make_machine):
    machine = make_machine(vendor_id="agv_011")
    fake_vendor.knows(machine)
    subscription_id = subscriptions.subscribe_machine(machine)
    fake_vendor.store.delete(subscription_id)
    assert subscriptions.unsubscribe_machine(machine) is True
    assert machine.subscription_id is None


def test_unreachable_vendor_gives_a_clear_error_and_changes_nothing(vendor_down, make_machine):
    machine = make_machine(vendor_id="agv_012")
    machine.subscription_id = "sub_kept"
    db.session.flush()
    with pytest.raises(VendorError) as error:
        subscriptions.subscribe_machine(machine)
    assert str(error.value) == (f"Cannot reach the vendor API at {vendor_down}: is it "
                                "running, and is VENDOR_API_URL right?")
    assert error.value.unreachable
    with pytest.raises(VendorError, match="Cannot reach the vendor API"):
        subscriptions.unsubscribe_machine(machine)
    db.session.expire_all()
    assert machine.subscription_id == "sub_kept" and machine.subscribed_at is None


def test_the_vendor_refusing_a_machine_is_explained(fake_vendor, make_machine):
    machine = make_machine(code="AGV-13", vendor_id="agv_013")   # the vendor does not know it
    with pytest.raises(VendorError) as error:
        subscriptions.subscribe_machine(machine)
    assert str(error.value) == ("The vendor refused to subscribe AGV-13 (agv_013): HTTP 404: "
                                "no machine 'agv_013' at this vendor")
    assert machine.subscription_id is None


def test_machines_without_vendor_id_are_skipped(fake_vendor, make_machine):
    with_id = make_machine(code="AGV-14", vendor_id="agv_014")
    without = make_machine(code="MAN-01")
    fake_vendor.knows(with_id)
    outcomes = subscriptions.subscribe_all([with_id, without])
    assert [(o.machine.code, o.status, o.ok) for o in outcomes] == [
        ("AGV-14", "subscribed", True), ("MAN-01", "skipped", True)]
    assert outcomes[1].message == "skipped: no vendor id"
    with pytest.raises(VendorError, match="MAN-01 has no vendor id"):
        subscriptions.subscribe_machine(without)
    assert len(fake_vendor.subscriptions()) == 1


def test_subscribe_all_gives_up_on_an_unreachable_vendor_at_once(vendor_down, make_machine):
    machines = [make_machine(vendor_id=f"agv_{n:03d}") for n in (15, 16, 17)]
    outcomes = subscriptions.subscribe_all(machines)
    assert [o.status for o in outcomes] == ["failed"] * 3
    assert len({o.message for o in outcomes}) == 1 and vendor_down in outcomes[0].message
    assert all(m.subscription_id is None for m in machines)


# --- the CLI -----------------------------------------------------------------------------

def test_cli_subscribes_and_unsubscribes(app, fake_vendor, make_machine):
    push = make_machine(code="AGV-21", vendor_id="agv_021")
    polled = make_machine(code="CNC-21", vendor_id="cnc_021")
    make_machine(code="MAN-21")
    fake_vendor.knows(push, polled)
    runner = app.test_cli_runner()

    result = runner.invoke(args=["machines", "subscribe", "--code", "agv-21"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert push.subscription_id and polled.subscription_id is None
    assert f"AGV-21     subscribed ({push.subscription_id})" in result.output
    assert f"Vendor API {fake_vendor.url}" in result.output

    result = runner.invoke(args=["machines", "subscribe"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[1:]
    assert [line.split()[0] for line in lines] == ["AGV-21", "CNC-21", "MAN-21"]
    assert "MAN-21     skipped: no vendor id" in lines
    assert len(fake_vendor.subscriptions()) == 2

    result = runner.invoke(args=["machines", "unsubscribe", "--code", "CNC-21"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("CNC-21     unsubscribed (")
    result = runner.invoke(args=["machines", "unsubscribe"])
    assert result.exit_code == 0 and result.output.startswith("AGV-21     unsubscribed (")
    db.session.expire_all()
    assert push.subscription_id is None and fake_vendor.subscriptions() == []
    result = runner.invoke(args=["machines", "unsubscribe"])
    assert result.exit_code == 0 and result.output == "No machine is subscribed.\n"


def test_cli_exits_1_when_a_machine_fails(app, fake_vendor, make_machine):
    known = make_machine(code="AGV-31", vendor_id="agv_031")
    make_machine(code="AGV-32", vendor_id="agv_032")   # unknown at the vendor
    fake_vendor.knows(known)
    result = app.test_cli_runner().invoke(args=["machines", "subscribe"])
    assert result.exit_code == 1
    assert "AGV-31     subscribed (" in result.output
    assert "AGV-32     failed: The vendor refused to subscribe AGV-32 (agv_032): HTTP 404" in result.output
    assert "1 of 2 failed." in result.output
    db.session.expire_all()
    assert known.subscription_id is not None   # what worked is kept


def test_cli_refuses_unknown_codes_before_doing_anything(app, fake_vendor, make_machine):
    machine = make_machine(code="AGV-41", vendor_id="agv_041")
    fake_vendor.knows(machine)
    result = app.test_cli_runner().invoke(
        args=["machines", "subscribe", "--code", "AGV-41", "--code", "XYZ-9"])
    assert result.exit_code == 1 and "no machine with code XYZ-9" in result.output
    assert fake_vendor.subscriptions() == []


def test_cli_with_the_vendor_down(app, vendor_down, make_machine):
    make_machine(code="AGV-51", vendor_id="agv_051")
    result = app.test_cli_runner().invoke(args=["machines", "subscribe"])
    assert result.exit_code == 1
    assert f"AGV-51     failed: Cannot reach the vendor API at {vendor_down}" in result.output


def test_manager_subscribes_and_unsubscribes_from_the_machine_page(
        logged_in, fake_vendor, make_machine):
    from app.blueprints.machines.models import Machine
    from app.core.extensions import db
    from tests.helpers import redirect_path, text_of

    machine = make_machine(code="BTN-1", vendor_id="btn_vendor_1")
    fake_vendor.knows(machine)
    browser, _ = logged_in("production_manager")
    confirm = text_of(browser.get(f"/machines/{machine.id}/subscribe"))
    assert "Subscribe to BTN-1" in confirm and fake_vendor.url in confirm
    done = browser.post(f"/machines/{machine.id}/subscribe")
    assert redirect_path(done) == f"/machines/{machine.id}"
    db.session.expire_all()
    assert db.session.get(Machine, machine.id).subscription_id
    assert [s.machine_id for s in fake_vendor.subscriptions()] == ["btn_vendor_1"]
    browser.post(f"/machines/{machine.id}/unsubscribe")
    db.session.expire_all()
    assert db.session.get(Machine, machine.id).subscription_id is None
    assert fake_vendor.subscriptions() == []


def test_subscribe_button_reports_an_unreachable_vendor(logged_in, make_machine):
    from tests.helpers import text_of

    machine = make_machine(code="BTN-2", vendor_id="btn_vendor_2")
    browser, _ = logged_in("shift_manager")
    page = browser.post(f"/machines/{machine.id}/subscribe", follow_redirects=True)
    assert "VENDOR_API_URL" in text_of(page) or "reach" in text_of(page)
