"""On a tablet: an operator starts and finishes a task with one tap each on "My tasks", and
a manager's open board follows without a reload."""

import os
import re

import pytest

from app.blueprints.tasks import services
from app.extensions import db
from tests.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TAP = 44
LIVE_TIMEOUT = 5_000  # ms

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"browser tests need Chromium at {CHROMIUM}", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")
pytestmark = [pytest.mark.browser, pytest.mark.live]


def log_in(page, username):
    page.goto("/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


@pytest.fixture(scope="module")
def chromium():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def test_one_tap_status_on_a_tablet_and_the_board_follows(chromium, live_server, make_user,
                                                         make_line, make_machine):
    operator = make_user("operator")
    manager = make_user("shift_manager")
    machine = make_machine(code="TAB-1", line=make_line(operators=[operator]))
    task = services.create_task(machine, "Grease the slides", assignees=[operator, manager])
    db.session.commit()
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
        desk.wait_for_function(
            f"document.querySelector('#task-{task.id}').innerText.includes('In progress')",
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
