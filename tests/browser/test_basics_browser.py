"""Browser flows in headless Chromium (the system's /usr/bin/chromium, driven by Playwright).

Each test runs the real app over HTTP (`live_server`), logs people in through the real
login form and checks what a tablet at 768 px shows: the right machines, touch-sized
controls, and rows that change live over the websocket.
"""

import re

import pytest

from tests.browser_support import LIVE_TIMEOUT, TABLET, TAP, log_in, require_chromium
from tests.helpers import PASSWORD

require_chromium()
pytestmark = [pytest.mark.browser, pytest.mark.live]


def height(locator):
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not visible"
    return box["height"]


def test_operator_on_a_tablet_sees_only_their_machines(open_page, make_user, make_line,
                                                       make_machine):
    operator = make_user("operator")
    line = make_line(code="L-A", name="Assembly A", operators=[operator])
    mine = make_machine(code="PRESS-01", name="Press one", line=line)
    other = make_machine(code="LATHE-09", name="Lathe nine")

    page = open_page(TABLET)
    page.goto("/auth/login")
    login_button = page.get_by_role("button", name="Log in")
    assert height(login_button) >= TAP
    for name in ("username", "password"):
        assert height(page.locator(f"input[name={name}]")) >= TAP
    log_in(page, operator.username)

    nav_links = page.locator(".topbar nav a")
    assert nav_links.count() > 0, "an operator has a main navigation"
    for i in range(nav_links.count()):
        link = nav_links.nth(i)
        assert height(link) >= TAP, f"nav link {link.inner_text()!r} is under {TAP} px"
    assert height(page.get_by_role("button", name="Log out")) >= TAP

    page.locator(".topbar nav a", has_text="Machines").first.click()
    page.wait_for_url(re.compile(r"/machines/"))
    assert page.get_by_role("heading", level=1).inner_text() == "My machines"
    row = page.locator(f"#machine-{mine.id}")
    assert row.is_visible()
    assert "PRESS-01" in row.inner_text()
    assert page.locator(f"#machine-{other.id}").count() == 0
    assert "LATHE-09" not in page.locator("main").inner_text()
    # Nothing spills sideways at tablet width.
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]


def test_operator_sees_a_rename_live_without_reloading(open_page, make_user, make_line,
                                                       make_machine):
    operator = make_user("operator")
    manager = make_user("production_manager")
    line = make_line(code="L-B", name="Bottling B", operators=[operator])
    machine = make_machine(code="FILL-02", name="Filler two", line=line)

    watcher = open_page(TABLET)
    log_in(watcher, operator.username)
    watcher.goto("/machines/")
    watcher.wait_for_selector("#live-dot.on", timeout=LIVE_TIMEOUT)
    # The busy bar shows only while a request is out: an open socket is not one.
    watcher.wait_for_function("!document.querySelector('.htmx-request')",
                              timeout=LIVE_TIMEOUT)
    row = watcher.locator(f"#machine-{machine.id}")
    assert "Filler two" in row.inner_text()
    # Marks this document: a reload would drop it, so its survival proves no reload.
    watcher.evaluate("window.__notReloaded = true")

    editor = open_page({"width": 1440, "height": 900})
    log_in(editor, manager.username)
    editor.goto(f"/machines/{machine.id}/edit")
    editor.fill("input[name=name]", "Filler two (rebuilt)")
    editor.get_by_role("button", name="Save").click()
    editor.wait_for_url(re.compile(rf"/machines/{machine.id}$"))

    row.get_by_text("Filler two (rebuilt)").wait_for(timeout=LIVE_TIMEOUT)
    assert watcher.evaluate("window.__notReloaded") is True
    assert "FILL-02" in row.inner_text()


def _alarm_screen_png(path):
    """A controller screen photo: light text on a dark screen, as an operator shoots it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 30)
    image = Image.new("RGB", (760, 140), (12, 18, 40))
    ImageDraw.Draw(image).text((24, 48), "SV0401 SERVO ALARM", fill=(235, 235, 235), font=font)
    image.save(path)
    return path


def test_operator_reports_an_issue_with_a_photo_from_the_qr_link(open_page, make_user,
                                                                 make_machine, tmp_path):
    """The QR label's link on a tablet: log in, three taps and a photo, then the issue page
    shows the photo and, once the OCR job has run, the alarm code read from it."""
    import shutil

    from sqlalchemy import select

    from app.blueprints.logbook.models import Attachment, Issue
    from app.core.extensions import db
    from app.jobs.ocr import read_attachment

    operator = make_user("operator")
    machine = make_machine(code="CNC-42", name="Mill 42", operators=[operator])
    page = open_page(TABLET)
    page.goto("/logbook/report/CNC-42")
    page.wait_for_url(re.compile(r"/auth/login"))
    page.fill("input[name=username]", operator.username)  # the login form keeps ?next=
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/logbook/report/CNC-42"))

    alarm = page.locator("label.choice", has_text="Alarm")
    assert height(alarm) >= TAP
    alarm.click()
    page.fill("textarea[name=description]", "Axis stopped, alarm on the screen")
    page.set_input_files("input[name=photo]", str(_alarm_screen_png(tmp_path / "screen.png")))
    page.locator("label.choice", has_text="No, it is stopped").click()
    page.get_by_role("button", name="Send report").click()
    page.wait_for_url(re.compile(r"/logbook/issues/\d+$"))

    issue = db.session.scalars(select(Issue).where(Issue.machine_id == machine.id)).one()
    assert issue.category == "alarm" and not issue.runnable
    attachment = db.session.scalars(select(Attachment).filter_by(issue_id=issue.id)).one()
    assert attachment.original_name == "screen.png"
    assert page.locator(f"img[src*='/logbook/attachments/{attachment.id}/thumbnail']").count()
    if shutil.which("tesseract"):
        read_attachment(attachment.id)  # what the RQ worker does after the upload
        page.reload()
        assert "SV0401" in page.locator("main").inner_text()
