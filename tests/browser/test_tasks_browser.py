"""On a tablet: an operator starts and finishes a task with one tap each on "My tasks", and
a manager's open board follows without a reload."""


import pytest

from app.blueprints.tasks import services
from app.core.extensions import db
from tests.browser_support import LIVE_TIMEOUT, TAP, log_in, require_chromium

require_chromium()
pytestmark = [pytest.mark.browser, pytest.mark.live]


def test_one_tap_status_on_a_tablet_and_the_board_follows(chromium, live_server, make_user,
                                                         make_line, make_machine, make_task):
    operator = make_user("operator")
    manager = make_user("shift_manager")
    machine = make_machine(code="TAB-1", line=make_line(operators=[operator]))
    task = make_task(machine, "Grease the slides", assignees=[operator, manager])
    contexts = [chromium.new_context(base_url=live_server,
                                     viewport={"width": 768, "height": 1024})
                for _ in range(2)]
    try:
        tablet, desk = (c.new_page() for c in contexts)
        log_in(tablet, operator.username)
        log_in(desk, manager.username)
        desk.goto("/tasks/?view=board")
        desk.wait_for_selector("#live-dot.on", state="attached", timeout=LIVE_TIMEOUT)
        tablet.goto("/tasks/mine")
        card = tablet.locator(f"#task-{task.id}")
        start = card.get_by_role("button", name="Start")
        assert start.bounding_box()["height"] >= TAP
        start.click()
        tablet.wait_for_function(
            f"document.querySelector('#task-{task.id}').innerText.includes('In progress')",
            timeout=LIVE_TIMEOUT)
        assert tablet.url.endswith("/tasks/mine")           # the card swapped, no reload
        # The manager's board moves the card to its new column without a reload.
        desk.wait_for_selector(f"section[aria-labelledby=col-in_progress] #task-{task.id}",
                               timeout=LIVE_TIMEOUT)
        assert desk.locator(f"section[aria-labelledby=col-not_started] #task-{task.id}") \
            .count() == 0
        # A task made elsewhere arrives on the open board.
        fresh = services.create_task(machine, "Check the coolant", assignees=[manager])
        db.session.commit()
        desk.wait_for_selector(f"section[aria-labelledby=col-not_started] #task-{fresh.id}",
                               timeout=LIVE_TIMEOUT)
        card.get_by_role("button", name="Finish").click()
        tablet.wait_for_function(
            f"document.querySelector('#task-{task.id}').innerText.includes('Finished')",
            timeout=LIVE_TIMEOUT)
    finally:
        for context in contexts:
            context.close()
    db.session.refresh(task)
    assert task.status == "finished"
    assert [e.to_status for e in task.events if e.kind == "status"] == ["in_progress",
                                                                        "finished"]
