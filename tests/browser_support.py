"""What every browser test module shares: the system Chromium, pages on the live server,
logging in through the real form, and the sizes a tablet on the floor needs.

conftest.py loads this module as a plugin, so the `chromium` and `open_page` fixtures are
there for every test. A browser test module starts with

    from tests.browser_support import log_in, require_chromium
    require_chromium()
    pytestmark = [pytest.mark.browser, pytest.mark.live]
"""

import os
import re

import pytest

from tests.helpers import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TABLET = {"width": 768, "height": 1024}
TAP = 44  # px: the smallest control a gloved finger hits reliably
LIVE_TIMEOUT = 5_000  # ms


def require_chromium():
    """Skip the calling test module when Chromium or Playwright is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)",
                    allow_module_level=True)
    pytest.importorskip("playwright.sync_api", reason="browser tests need playwright")


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium, live_server):
    """`open_page()` → a page in a fresh context (own cookies) on the live server."""
    contexts = []

    def open_(viewport=TABLET):
        context = chromium.new_context(base_url=live_server, viewport=viewport)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()
    yield open_
    for context in contexts:
        context.close()


def log_in(page, username, password=PASSWORD):
    page.goto("/auth/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"^(?!.*/login).*$"))


def wait_live(page):
    """The socket is subscribed once the dot in the top bar is green."""
    page.wait_for_selector("#live-dot.on", state="attached", timeout=LIVE_TIMEOUT)
