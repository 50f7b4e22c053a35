"""Full-page screenshots of Floorline's main pages at tablet and desktop widths.

    .venv/bin/python scripts/screenshots.py [--base-url http://127.0.0.1:8000] [--out DIR]

Logs in through the real login form as the demo users (`make run` loads them), visits each
page and writes `<width>-<nn>-<page>.png`. It also prints, per page, the HTTP status,
whether the page is wider than the window, and touch controls under 44 px, so a look at
the pictures can start from a list. Read-only: it opens forms but never submits them.
Exits 1 if a page answers with an unexpected status.

Needs the system Chromium (/usr/bin/chromium); it does not download a browser.
"""

import argparse
import re
import sys
from pathlib import Path
from urllib.parse import urljoin

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORTS = ((768, 1024), (1440, 900))
DEMO_PASSWORD = "demo-floor-2026"
TAP = 44

# Visible controls a finger must hit; inline links inside running text are left out.
SMALL_CONTROLS_JS = """(tap) => {
  const out = [];
  for (const el of document.querySelectorAll(
      'a[href], button, input:not([type=hidden]), select, textarea, summary')) {
    if (el.closest('p, .help, .small, .skip, td .muted')) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const s = getComputedStyle(el);
    if (s.visibility === 'hidden' || s.display === 'none') continue;
    if ((el.type === 'checkbox' || el.type === 'radio') && el.closest('label, li, .check-line')) {
      const box = el.closest('li, .check-line, label').getBoundingClientRect();
      if (box.height >= tap) continue;
    }
    if (r.height < tap - 0.5) {  // sub-pixel rounding is not a miss
      const name = (el.innerText || el.value || el.name || el.id || '').trim().slice(0, 30);
      out.push(`${el.tagName.toLowerCase()} "${name}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
  }
  return out;
}"""

# Boxes whose content is cut off and must be scrolled sideways (a table too wide, say).
SCROLLING_BOXES_JS = """() => [...document.querySelectorAll('main *')]
  .filter(el => el.scrollWidth > el.clientWidth + 1
          && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX))
  .map(el => `${el.tagName.toLowerCase()}.${el.className} by ${el.scrollWidth - el.clientWidth}px`)"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("/tmp/floorline-shots"))
    parser.add_argument("--password", default=DEMO_PASSWORD, help="the demo users' password")
    return parser.parse_args(argv)


class Shooter:
    def __init__(self, browser, base_url, out, password):
        self.browser, self.base_url, self.out, self.password = browser, base_url, out, password
        self.problems = []
        self.count = 0

    def context(self, viewport, username=None):
        width, height = viewport
        context = self.browser.new_context(base_url=self.base_url,
                                           viewport={"width": width, "height": height})
        context.set_default_timeout(15_000)
        page = context.new_page()
        if username:
            page.goto("/auth/login")
            page.fill("input[name=username]", username)
            page.fill("input[name=password]", self.password)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state()
            if "/auth/login" in page.url or "/welcome" in page.url:
                raise SystemExit(f"could not log in as {username!r} (ended on {page.url}); "
                                 "are the demo users loaded (`make run`)?")
        return context, page

    def shoot(self, page, name, path, expect=200):
        response = page.goto(path, wait_until="load")
        status = response.status if response else 0
        live_off = False
        if page.locator("#live").count():
            try:  # let the live socket connect so the dot shows its normal state
                page.wait_for_selector("#live-dot.on", timeout=3_000)
            except PlaywrightError:
                live_off = True
        width = page.viewport_size["width"]
        self.count += 1
        file = self.out / f"{width}-{self.count:02d}-{name}.png"
        page.screenshot(path=str(file), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth") - width
        scrolled = page.evaluate(SCROLLING_BOXES_JS)
        small = page.evaluate(SMALL_CONTROLS_JS, TAP)
        notes = []
        if status != expect:
            notes.append(f"status {status}, expected {expect}")
            self.problems.append(f"{file.name}: status {status}, expected {expect}")
        if overflow > 0:
            notes.append(f"{overflow}px wider than the window")
        if live_off:
            notes.append("live updates did not connect within 3 s")
        if scrolled:
            notes.append("scrolls sideways inside: " + "; ".join(scrolled))
        if small:
            notes.append(f"under {TAP}px: " + "; ".join(small[:8])
                         + (f" (+{len(small) - 8} more)" if len(small) > 8 else ""))
        print(f"{file.name:40} {status}  {path}" + "".join(f"\n    ! {n}" for n in notes))
        return response

    def first_link(self, page, pattern):
        """The href of the first link on the page whose path matches `pattern`."""
        for href in page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))"):
            if re.fullmatch(pattern, href.split("?")[0]):
                return urljoin(page.url, href)
        return None

    def run_viewport(self, viewport):
        self.count = 0
        context, page = self.context(viewport)
        self.shoot(page, "login", "/auth/login")
        context.close()

        context, page = self.context(viewport, "manager")
        self.shoot(page, "home-manager", "/")
        self.shoot(page, "machines", "/machines/")
        machine = self.first_link(page, r".*/machines/\d+")
        if machine:
            self.shoot(page, "machine", machine)
            self.shoot(page, "machine-edit", machine.rstrip("/") + "/edit")
        else:
            self.problems.append("no machine link on /machines/ (is the demo plant loaded?)")
        self.shoot(page, "types", "/machines/types")
        machine_type = self.first_link(page, r".*/machines/types/\d+")
        if machine_type:
            self.shoot(page, "type", machine_type)
        else:
            self.problems.append("no type link on /machines/types")
        self.shoot(page, "lines", "/machines/lines")
        self.shoot(page, "alerts", "/alerts/")
        alert = self.first_link(page, r".*/alerts/\d+")
        if alert:
            self.shoot(page, "alert", alert)
        self.shoot(page, "alert-rules", "/alerts/rules")
        self.shoot(page, "alert-rule-new", "/alerts/rules/new")
        self.shoot(page, "andon", "/andon/")
        self.shoot(page, "andon-ladder", "/andon/escalation")
        self.shoot(page, "tasks", "/tasks/")
        self.shoot(page, "tasks-board", "/tasks/?view=board")
        task = self.first_link(page, r".*/tasks/\d+")
        if task:
            self.shoot(page, "task", task)
        self.shoot(page, "plans", "/tasks/plans")
        self.shoot(page, "notifications", "/notifications/")
        self.shoot(page, "profile", "/auth/profile")
        self.shoot(page, "not-found", "/no-such-page", expect=404)
        context.close()

        context, page = self.context(viewport, "admin")
        self.shoot(page, "users", "/auth/users")
        self.shoot(page, "user-new", "/auth/users/new")
        context.close()

        context, page = self.context(viewport, "operator1")
        self.shoot(page, "home-operator", "/")
        self.shoot(page, "machines-operator", "/machines/")
        self.shoot(page, "alerts-operator", "/alerts/")
        self.shoot(page, "tasks-mine", "/tasks/mine")
        machine = self.first_link(page, r".*/machines/\d+")
        if machine:
            self.shoot(page, "andon-machine", "/andon/machine/" + machine.rstrip("/").split("/")[-1])
        context.close()


def main(argv=None):
    args = parse_args(argv)
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} not found: install Debian's chromium package.")
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        shooter = Shooter(browser, args.base_url, args.out, args.password)
        try:
            for viewport in VIEWPORTS:
                print(f"--- {viewport[0]}x{viewport[1]}")
                shooter.run_viewport(viewport)
        finally:
            browser.close()
    print(f"Screenshots in {args.out}")
    if shooter.problems:
        print("Problems:\n  " + "\n  ".join(shooter.problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
