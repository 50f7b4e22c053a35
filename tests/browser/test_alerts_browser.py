"""Alerts in headless Chromium on a tablet: an operator's open alert list gets a new alert
live at its top, the operator acknowledges it with one tap, and the badge counts down."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.browser_support import LIVE_TIMEOUT, TAP, log_in, require_chromium

require_chromium()
pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture
def tablet(open_page):
    return open_page()


def test_a_new_alert_appears_live_and_is_acknowledged_in_one_tap(tablet, make_user, make_line,
                                                                  make_machine_type,
                                                                  make_machine,
                                                                  make_alert_rule):
    from app.blueprints.alerts.models import Alert
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    operator = make_user("operator")
    line = make_line(operators=[operator])
    cnc = make_machine_type("CNC", metrics=(("temperature", "Temperature", "°C", 20, 70),))
    machine = make_machine(code="CNC-7", machine_type=cnc, line=line)
    make_alert_rule(cnc, sustained=20, severity="critical",
                    template="{machine} is overheating: {value}{unit}")

    log_in(tablet, operator.username)
    tablet.goto("/alerts/")
    tablet.wait_for_selector("#live-dot.on", timeout=LIVE_TIMEOUT)
    assert tablet.get_by_text("No open alerts").is_visible()

    now = datetime.now(UTC)
    ingest([{"ts": (now - timedelta(seconds=s)).isoformat(), "values": {"temperature": 82}}
            for s in (30, 10, 0)], "webhook", machine=machine, now=now)
    db.session.commit()
    alert = db.session.query(Alert).one()

    row = tablet.locator(f"#alert-{alert.id}-row")
    row.wait_for(timeout=LIVE_TIMEOUT)
    assert tablet.locator("#alert-rows tr").first.get_attribute("id") == f"alert-{alert.id}-row"
    assert "CNC-7 is overheating: 82°C" in row.inner_text()
    assert not tablet.get_by_text("No open alerts").is_visible()
    tablet.locator("#badge-alerts", has_text="1").wait_for(timeout=LIVE_TIMEOUT)

    button = row.get_by_role("button", name="Acknowledge")
    assert button.bounding_box()["height"] >= TAP
    button.click()
    row.get_by_text("Acknowledged").wait_for(timeout=LIVE_TIMEOUT)
    assert tablet.url.endswith("/alerts/"), "the list stays; only the row changes"
    tablet.locator("#badge-alerts.empty").wait_for(state="attached", timeout=LIVE_TIMEOUT)
    db.session.refresh(alert)
    assert alert.acknowledged_by_id == operator.id
