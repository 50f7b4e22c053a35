"""Alarm codes from photos of controller screens: the patterns, Tesseract on pictures drawn
here, and the RQ job that fills the issue's alarm code."""

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from werkzeug.datastructures import FileStorage

from app.blueprints.logbook.alarm_codes import find_alarm_codes
from app.blueprints.logbook.attachments import save_upload
from app.core.extensions import db
from app.integrations import ocr
from app.jobs.ocr import read_attachment

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf"
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="the tesseract binary is not installed (Debian: apt-get install tesseract-ocr "
           "tesseract-ocr-eng)")


# --- the patterns -------------------------------------------------------------------------

@pytest.mark.parametrize("text, codes", [
    ("ALARM 1042 SPINDLE OVERLOAD", ["ALARM 1042"]),
    ("ALM 1042", ["ALARM 1042"]),
    ("ALARM NO. 1042 SPINDLE", ["ALARM 1042"]),
    ("ALARM NO.1042", ["ALARM 1042"]),
    ("ALARM: 108 SERVO OVERLOAD", ["ALARM 108"]),
    ("Alarm 25000 Axis X hardware fault", ["ALARM 25000"]),
    ("ALARM 300500 DRIVE", ["ALARM 300500"]),
    ("ERROR: 456 LUBE PRESSURE", ["ERROR 456"]),
    ("ERR 456", ["ERROR 456"]),
    ("ERROR CODE 456", ["ERROR 456"]),
    ("ERR#456", ["ERROR 456"]),
    ("error: 12 door switch", ["ERROR 12"]),
    ("E-1042 COOLANT LOW", ["E-1042"]),
    ("E1042 COOLANT LOW", ["E-1042"]),
    ("AL-012 DOOR OPEN", ["AL-012"]),
    ("AL012 DOOR OPEN", ["AL-012"]),
    ("SV0401 SERVO ALARM (V READY OFF)", ["SV0401"]),
    ("OT0500 + OVERTRAVEL ( SOFT 1 )", ["OT0500"]),
    ("PS0010 IMPROPER G-CODE", ["PS0010"]),
    ("EX1004 HYDRAULIC PRESSURE LOW", ["EX1004"]),
    ("SP9012 SPINDLE EXCESS ERROR", ["SP9012"]),
    ("OH0700 OVERHEAT: CONTROL UNIT", ["OH0700"]),
    ("SVO401 SERVO ALARM", ["SV0401"]),     # OCR read the 0 as an O
    ("AL-O12 DOOR OPEN", ["AL-012"]),
    # A Fanuc alarm screen: header, program line, messages, status bar with a clock.
    ("ALARM MESSAGE O1234 N00100\nSV0401 SERVO ALARM\nOT0500 +OVERTRAVEL X\n"
     "MEM **** *** ALM 12:45:10", ["SV0401", "OT0500"]),
    # A Siemens line with a date and a time after the alarm.
    ("25000 is not a code but ALARM 25000 is; 2024-01-15 12:45", ["ALARM 25000"]),
    ("ALARM 1042 / ALM 1042 / E-1042", ["ALARM 1042", "E-1042"]),
])
def test_codes_found(text, codes):
    assert find_alarm_codes(text) == codes


@pytest.mark.parametrize("text", [
    "PART COUNT 1234  12:45  72.5 C",
    "PROGRAM O1234  N100",
    "S12000 F300 T05",
    "SPINDLE 12000 RPM FEED 300 MM/MIN",
    "2024-01-15 12:45:10",
    "15.01.2024 06:30",
    "TEMP 72.5 C  COOLANT 18 C",
    "PARTS 1042 / 2000 CYCLE TIME 00:01:42",
    "ALARM",
    "NO ALARM",
    "ALARM 3",                         # a count on a status bar
    "ALARM 12:45",                     # a time after the word
    "ALARM 72.5",
    "ALARM 2024-01-15",
    "ERR 2024-01-15",
    "ALARM\nO1234 N00100",             # the screen title above the program number
    "ALARM O1234",
    "ALARM 12345678",                  # too long for any controller
    "MEM **** *** ALM 12:45:10",
    "ERROR COUNT 3",
    "error 12 times",
    "G01 X10.5 Y-20.0 E1234.5 F300",   # an E word with decimals
    "TOTAL1042 LINE-1042 TYPE-1042",   # a code glued to a word is not a code
    "E12 SP12000 SV04011",
    "",
])
def test_stray_numbers_are_not_codes(text):
    assert find_alarm_codes(text) == []


def test_none_and_empty():
    assert find_alarm_codes(None) == []


# --- Tesseract on pictures drawn here -----------------------------------------------------

def screen(lines, dark=True, size=24, width=640, noisy=False):
    """A controller screen: light text on a dark background (or the other way round)."""
    font = ImageFont.truetype(FONT, size)
    background, ink = ((16, 20, 28), (120, 255, 140)) if dark else ((236, 236, 226), (20, 20, 20))
    image = Image.new("RGB", (width, 24 + len(lines) * (size + 14)), background)
    draw = ImageDraw.Draw(image)
    for n, line in enumerate(lines):
        draw.text((16, 12 + n * (size + 14)), line, font=font, fill=ink)
    if noisy:  # like a phone photo: a little tilt and blur, saved as JPEG
        image = image.rotate(1.5, expand=True, fillcolor=background)
        image = image.filter(ImageFilter.GaussianBlur(0.8))
    return image


def save(image, path, fmt="PNG"):
    image.save(path, fmt, quality=80)
    return path


@needs_tesseract
@pytest.mark.parametrize("lines, dark, expected", [
    (["ALARM 1042 SPINDLE OVERLOAD"], True, ["ALARM 1042"]),
    (["SV0401 SERVO ALARM"], True, ["SV0401"]),
    (["E-1042 COOLANT LOW"], True, ["E-1042"]),
    (["AL-012 DOOR OPEN"], False, ["AL-012"]),
    (["ERROR: 456 LUBE PRESSURE"], False, ["ERROR 456"]),
    (["MESSAGE", "PS0010 IMPROPER G-CODE", "ALARM 25000 AXIS X"], True,
     ["PS0010", "ALARM 25000"]),
])
def test_tesseract_reads_alarm_screens(tmp_path, lines, dark, expected):
    text = ocr.read_text(save(screen(lines, dark), tmp_path / "screen.png"))
    assert find_alarm_codes(text) == expected, text


@needs_tesseract
def test_tesseract_reads_a_blurred_photo(tmp_path):
    image = screen(["ALARM 1042 SPINDLE OVERLOAD", "E-1042 COOLANT LOW"], size=30, width=750,
                   noisy=True)
    text = ocr.read_text(save(image, tmp_path / "photo.jpg", "JPEG"))
    assert find_alarm_codes(text) == ["ALARM 1042", "E-1042"], text


@needs_tesseract
@pytest.mark.parametrize("lines", [
    ["PART COUNT 1234  12:45  72.5 C"],
    ["PROGRAM O1234  N100", "S12000 F300 T05", "2024-01-15 12:45"],
])
def test_stray_numbers_on_a_screen_are_not_codes(tmp_path, lines):
    text = ocr.read_text(save(screen(lines), tmp_path / "counts.png"))
    assert "12:45" in text  # it was read, and still nothing counts as a code
    assert find_alarm_codes(text) == [], text


def test_missing_tesseract_is_said_plainly(app, monkeypatch, tmp_path):
    monkeypatch.setitem(app.config, "TESSERACT_CMD", str(tmp_path / "no-tesseract"))
    assert not ocr.tesseract_available()
    with pytest.raises(ocr.OcrUnavailable, match="Tesseract is not installed"):
        ocr.read_text(save(screen(["ALARM 1042"]), tmp_path / "s.png"))


@needs_tesseract
def test_unreadable_file_fails_plainly(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40))
    with pytest.raises(ocr.OcrFailed, match="could not be opened"):
        ocr.read_text(path)


# --- the job ------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(tmp_path / "uploads"))


@pytest.fixture
def photo(make_issue, make_user):
    """`photo(lines, alarm_code=None)` → an attachment of that screen on a new issue."""
    def make(lines, alarm_code=None, issue=None):
        user = make_user("maintenance")
        if issue is None:
            issue = make_issue(reporter=user, title="Alarm", alarm_code=alarm_code)
        data = io.BytesIO()
        screen(lines).save(data, "PNG")
        attachment = save_upload(issue, FileStorage(io.BytesIO(data.getvalue()),
                                                    "screen.png", "photo"), user)
        db.session.commit()
        return attachment
    return make


@needs_tesseract
def test_job_reads_the_photo_and_fills_the_alarm_code(photo):
    attachment = photo(["ALARM 1042 SPINDLE OVERLOAD"])
    assert attachment.ocr_status == "pending"
    assert read_attachment(attachment.id) == "done"
    db.session.refresh(attachment)
    assert attachment.ocr_status == "done"
    assert "SPINDLE OVERLOAD" in attachment.ocr_text
    assert attachment.alarm_codes == ["ALARM 1042"]
    assert attachment.ocr_error is None
    assert attachment.issue.alarm_code == "ALARM 1042"


@needs_tesseract
def test_job_keeps_an_alarm_code_already_given(photo):
    attachment = photo(["SV0401 SERVO ALARM"], alarm_code="OT0500")
    read_attachment(attachment.id)
    db.session.refresh(attachment)
    assert attachment.alarm_codes == ["SV0401"]
    assert attachment.issue.alarm_code == "OT0500"


@needs_tesseract
def test_job_with_stray_numbers_only_finds_no_code(photo):
    attachment = photo(["PART COUNT 1234  12:45  72.5 C"])
    assert read_attachment(attachment.id) == "done"
    db.session.refresh(attachment)
    assert attachment.alarm_codes == []
    assert "PART COUNT" in attachment.ocr_text
    assert attachment.issue.alarm_code is None


@needs_tesseract
def test_job_run_twice_is_harmless(photo):
    first = photo(["E-1042 COOLANT LOW"])
    second = photo(["SV0401 SERVO ALARM"], issue=first.issue)
    for _ in range(2):
        read_attachment(first.id)
        read_attachment(second.id)
    db.session.refresh(first)
    db.session.refresh(second)
    assert (first.ocr_status, first.alarm_codes) == ("done", ["E-1042"])
    assert (second.ocr_status, second.alarm_codes) == ("done", ["SV0401"])
    # The first code found stays; the second photo does not overwrite it.
    assert first.issue.alarm_code == "E-1042"


def test_job_without_tesseract_is_skipped_and_says_so(app, monkeypatch, photo, logged_in):
    monkeypatch.setitem(app.config, "TESSERACT_CMD", "/nonexistent/tesseract")
    attachment = photo(["ALARM 1042 SPINDLE OVERLOAD"])
    assert read_attachment(attachment.id) == "skipped"
    db.session.refresh(attachment)
    assert attachment.ocr_status == "skipped"
    assert "Tesseract is not installed" in attachment.ocr_error
    assert attachment.ocr_text is None and attachment.alarm_codes == []
    issue = attachment.issue
    assert issue.alarm_code is None and issue.status == "open"  # the issue is unaffected
    browser, _ = logged_in("maintenance")
    html = browser.get(f"/logbook/issues/{issue.id}/attachments",
                       headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Tesseract is not installed on this server" in html


def test_job_skips_videos_and_vanished_rows(make_issue, make_user):
    user = make_user("maintenance")
    issue = make_issue(reporter=user, title="Noise", description="Noise from the spindle")
    video = save_upload(issue, FileStorage(io.BytesIO(b"\x00\x00\x00\x14ftypisom\x00\x00\x00"
                                                      b"\x00isom" + bytes(32)), "noise.mp4",
                                           "photo"), user)
    db.session.commit()
    assert read_attachment(video.id) == "not an image"
    assert video.ocr_status is None
    assert read_attachment(987654) == "gone"


def test_job_with_missing_file_fails_plainly(photo, app):
    attachment = photo(["ALARM 1042"])
    (Path(app.config["UPLOAD_DIR"]) / attachment.stored_name).unlink()
    assert read_attachment(attachment.id) == "failed"
    db.session.refresh(attachment)
    assert attachment.ocr_status == "failed"
    assert attachment.ocr_error == "The stored file is missing."


def test_the_result_goes_live_to_the_issue_page(app, photo, make_user):
    from app.realtime.renderers import render_event

    attachment = photo(["ALARM 1042"])
    attachment.ocr_status, attachment.ocr_text = "done", "ALARM 1042"
    attachment.alarm_codes = ["ALARM 1042"]
    db.session.commit()
    message = {"event": "attachment.read", "id": attachment.id,
               "issue_id": attachment.issue_id}
    viewer, outsider = make_user("viewer"), make_user("operator")
    with app.test_request_context("/ws"):  # as in the /ws handler
        html = render_event(message, viewer, f"issue:{attachment.issue_id}")
        assert f'id="attachment-{attachment.id}-ocr" hx-swap-oob="true"' in html
        assert f'id="issue-{attachment.issue_id}-photo-codes" hx-swap-oob="true"' in html
        assert "<code>ALARM 1042</code>" in html
        assert render_event(message, viewer, "tiles") == ""
        assert render_event(message, outsider, "") == ""  # may not see the machine
