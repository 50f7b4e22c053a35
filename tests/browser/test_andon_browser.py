"""Andon in headless Chromium on a tablet: an operator calls for help on the machine screen,
a manager's plant page shows the banner live, the manager acknowledges, and the banner goes
away on the operator's tablet without a reload."""

import pytest

from tests.browser_support import LIVE_TIMEOUT, TAP, log_in, require_chromium, wait_live

require_chromium()
pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_operator_calls_for_help_and_the_manager_sees_it_live(open_page, make_user, make_line,
                                                             make_machine):
    operator = make_user("operator")
    manager = make_user("shift_manager")
    machine = make_machine(code="PRESS-07", name="Press seven",
                           line=make_line(code="L-P", name="Press line", operators=[operator]))

    plant = open_page()
    log_in(plant, manager.username)
    plant.goto("/")
    wait_live(plant)
    banner = plant.locator("#andon-banner")
    assert "PRESS-07" not in banner.inner_text()

    tablet = open_page()
    log_in(tablet, operator.username)
    tablet.goto(f"/andon/machine/{machine.id}")
    stoppage = tablet.get_by_role("button", name="Stoppage")
    assert stoppage.bounding_box()["height"] >= 100  # a big target for a gloved hand
    tablet.get_by_text("First add a note").click()
    tablet.fill("textarea[name=note]", "Die stuck")
    stoppage.click()
    tablet.wait_for_selector(".flash.success")
    wait_live(tablet)
    assert "PRESS-07" in tablet.locator("#andon-banner").inner_text()

    # The manager's plant page was not reloaded: the banner arrived over the socket.
    call_link = plant.locator("#andon-banner a", has_text="PRESS-07")
    call_link.wait_for(timeout=LIVE_TIMEOUT)
    assert "Stoppage" in call_link.inner_text()
    assert call_link.bounding_box()["height"] >= TAP

    call_link.click()
    plant.get_by_role("button", name="Acknowledge").click()
    plant.wait_for_selector(".flash.success")
    assert "PRESS-07" not in plant.locator("#andon-banner").inner_text()
    # ... and it went from the operator's tablet too, live.
    tablet.locator("#andon-banner a", has_text="PRESS-07").wait_for(state="detached",
                                                                   timeout=LIVE_TIMEOUT)
    assert "Acknowledged" in tablet.locator(f"#andon-machine-calls-{machine.id}").inner_text()


def test_board_gets_new_calls_live_and_they_can_be_answered_there(open_page, make_user,
                                                                  make_line, make_machine,
                                                                  make_andon_call):
    from app.core.extensions import db

    operator = make_user("operator")
    maintenance = make_user("maintenance")
    machine = make_machine(code="LATHE-3", line=make_line(operators=[operator]))
    board = open_page({"width": 1440, "height": 900})
    log_in(board, maintenance.username)
    board.goto("/andon/")
    wait_live(board)
    assert "No active andon calls" in board.locator("#andon-board").inner_text()

    call = make_andon_call(machine, operator, "maintenance", note="Coolant leak")
    card = board.locator(f"#andon-call-{call.id}")
    card.wait_for(timeout=LIVE_TIMEOUT)
    assert "Coolant leak" in card.inner_text() and "Waiting" in card.inner_text()
    # The form came over the socket; its CSRF token must still be good.
    card.get_by_role("button", name="Acknowledge").click()
    board.wait_for_selector(".flash.success")
    assert "Acknowledged" in board.locator(f"#andon-call-{call.id}").inner_text()
    db.session.refresh(call)
    assert call.acknowledged_by_id == maintenance.id
