"""Photos and videos on logbook issues: accepted and refused by content, size and count;
stored under random names; served only to people who may see the issue."""

import io
import re
import struct

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage

from app.blueprints.logbook import attachments
from app.blueprints.logbook.attachments import delete_attachment, save_upload
from app.blueprints.logbook.models import Attachment
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from tests.helpers import text_of

MB = 1024 * 1024


# --- files, made here ---------------------------------------------------------------------

def image_bytes(fmt, size=(640, 480), color=(20, 30, 40)):
    data = io.BytesIO()
    image = Image.new("RGB", size, color)
    if fmt == "GIF":
        image = image.convert("P")
    image.save(data, fmt)
    return data.getvalue()


def mp4_bytes(brand=b"mp42"):
    ftyp = b"ftyp" + brand + b"\x00\x00\x00\x00" + brand + b"isom"
    box = struct.pack(">I", 4 + len(ftyp)) + ftyp
    mdat = struct.pack(">I", 8 + 64) + b"mdat" + bytes(64)
    return box + mdat


def avi_bytes():
    body = b"AVI LIST" + struct.pack("<I", 4) + b"hdrl" + bytes(64)
    return b"RIFF" + struct.pack("<I", len(body)) + body


ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(8) + b"\x02\x00\x3e\x00" + bytes(200)
PE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(50) + b"PE\x00\x00" + bytes(200)


def upload(data, name):
    return FileStorage(io.BytesIO(data), filename=name, name="photo")


# --- fixtures -----------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def upload_dir(app, tmp_path, monkeypatch):
    path = tmp_path / "uploads"
    monkeypatch.setitem(app.config, "UPLOAD_DIR", str(path))
    return path


def stored_files(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def rows_of(issue):
    return db.session.scalar(db.select(db.func.count(Attachment.id))
                             .where(Attachment.issue_id == issue.id))


# --- accepted -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, kind, content_type, ext", [
    ("alarm.jpg", image_bytes("JPEG"), "image", "image/jpeg", "jpg"),
    ("ALARM.JPEG", image_bytes("JPEG"), "image", "image/jpeg", "jpg"),
    ("screen.png", image_bytes("PNG"), "image", "image/png", "png"),
    ("blink.gif", image_bytes("GIF"), "image", "image/gif", "gif"),
    ("noise.mp4", mp4_bytes(b"mp42"), "video", "video/mp4", "mp4"),
    ("phone.mp4", mp4_bytes(b"isom"), "video", "video/mp4", "mp4"),
    ("iphone.mov", mp4_bytes(b"qt  "), "video", "video/quicktime", "mov"),
    ("old-camera.avi", avi_bytes(), "video", "video/x-msvideo", "avi"),
])
def test_accepted_by_content(make_issue, make_user, upload_dir, name, data, kind,
                             content_type, ext):
    issue = make_issue()
    user = make_user("maintenance")
    attachment = save_upload(issue, upload(data, name), user)
    db.session.commit()

    assert (attachment.kind, attachment.content_type) == (kind, content_type)
    assert attachment.original_name == name
    assert attachment.size == len(data)
    assert attachment.uploaded_by_id == user.id
    # Random name from the content's type, never the original.
    assert re.fullmatch(rf"[0-9a-f]{{32}}\.{ext}", attachment.stored_name)
    assert (upload_dir / attachment.stored_name).read_bytes() == data
    if kind == "image":
        assert attachment.ocr_status == "pending"
        assert attachment.thumbnail_name
    else:
        assert attachment.ocr_status is None
        assert attachment.thumbnail_name is None
    # Nothing else (no temporary files) is left in the folder.
    assert stored_files(upload_dir) == sorted(
        n for n in (attachment.stored_name, attachment.thumbnail_name) if n)


def test_thumbnail_is_a_small_jpeg(make_issue, make_user, upload_dir):
    issue = make_issue()
    attachment = save_upload(issue, upload(image_bytes("PNG", (1600, 900)), "big.png"),
                             make_user("engineer"))
    db.session.commit()
    with Image.open(upload_dir / attachment.thumbnail_name) as thumb:
        assert thumb.format == "JPEG"
        assert max(thumb.size) == 320
        assert thumb.size == (320, 180)


def test_stored_names_are_random(make_issue, make_user):
    issue = make_issue()
    user = make_user("maintenance")
    data = image_bytes("JPEG")
    first = save_upload(issue, upload(data, "same.jpg"), user)
    second = save_upload(issue, upload(data, "same.jpg"), user)
    db.session.commit()
    assert first.stored_name != second.stored_name
    assert "same" not in first.stored_name
    assert first.original_name == second.original_name == "same.jpg"


def test_path_in_the_file_name_is_dropped(make_issue, make_user, upload_dir):
    attachment = save_upload(make_issue(), upload(image_bytes("PNG"), "../../etc/passwd.png"),
                             make_user("maintenance"))
    db.session.commit()
    assert attachment.original_name == "passwd.png"
    assert (upload_dir / attachment.stored_name).exists()


def queued_ocr():
    from app.core.after_commit import pending

    return [args[1] for _, args in pending()
            if args and args[0] == "app.jobs.ocr.read_attachment"]


def test_image_upload_queues_ocr_after_commit(make_issue, make_user):
    attachment = save_upload(make_issue(), upload(image_bytes("JPEG"), "a.jpg"),
                             make_user("maintenance"))
    save_upload(attachment.issue, upload(mp4_bytes(), "v.mp4"), attachment.uploaded_by)
    assert queued_ocr() == [(attachment.id,)]  # the photo, not the video
    db.session.commit()
    assert queued_ocr() == []


# --- refused ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, message", [
    ("alarm.jpg", ELF, "is a program, not a photo or video"),
    ("alarm.jpg", PE, "is a program, not a photo or video"),
    ("setup.exe", PE, "is not a photo or video: use jpg"),
    ("clip.mp4", image_bytes("PNG"), "named as a video but its content is a photo (PNG)"),
    ("photo.png", mp4_bytes(), "named as a photo but its content is a video (MP4)"),
    ("notes.txt", b"spindle makes a noise\n", "is not a photo or video: use jpg"),
    ("notes.jpg", b"spindle makes a noise\n", "not a photo or video"),
    ("report.jpg", b"%PDF-1.7\n" + bytes(100), "is a PDF document"),
    ("iphone.jpg", b"\x00\x00\x00\x18ftypheic" + bytes(40), "HEIC/AVIF photo"),
    ("audio.mp4", b"\x00\x00\x00\x18ftypM4A " + bytes(40), "not a photo or video"),
    ("broken.jpg", b"\xff\xd8\xff\xe0" + bytes(300), "could not be read as a JPG picture"),
    ("empty.jpg", b"", "is empty"),
    ("noextension", image_bytes("JPEG"), "is not a photo or video"),
])
def test_refused_with_a_message_and_nothing_stored(make_issue, make_user, upload_dir, name,
                                                    data, message):
    issue = make_issue()
    with pytest.raises(ValidationFailed) as refused:
        save_upload(issue, upload(data, name), make_user("maintenance"))
    assert message in refused.value.errors["photo"]
    db.session.rollback()
    assert rows_of(issue) == 0
    assert stored_files(upload_dir) == []


def test_too_big_is_measured_not_taken_from_headers(make_issue, make_user, upload_dir):
    issue = make_issue()
    data = image_bytes("JPEG") + bytes(11 * MB)
    file = FileStorage(io.BytesIO(data), filename="huge.jpg", name="photo",
                       headers={"Content-Length": "1000"})
    with pytest.raises(ValidationFailed) as refused:
        save_upload(issue, file, make_user("maintenance"))
    assert "is larger than 10 MB" in refused.value.errors["photo"]
    db.session.rollback()
    assert rows_of(issue) == 0
    assert stored_files(upload_dir) == []


def test_exactly_the_limit_is_accepted(app, make_issue, make_user, monkeypatch):
    monkeypatch.setitem(app.config, "UPLOAD_MAX_BYTES", 2000)
    data = mp4_bytes()
    data += bytes(2000 - len(data))
    attachment = save_upload(make_issue(), upload(data, "exact.mp4"), make_user("maintenance"))
    assert attachment.size == 2000
    with pytest.raises(ValidationFailed, match="larger than"):
        save_upload(attachment.issue, upload(data + b"\x00", "over.mp4"),
                    attachment.uploaded_by)


def test_the_eleventh_attachment_is_refused(make_issue, make_user, upload_dir):
    issue = make_issue()
    user = make_user("maintenance")
    for n in range(10):
        save_upload(issue, upload(mp4_bytes(), f"clip{n}.mp4"), user)
    db.session.commit()
    before = stored_files(upload_dir)
    with pytest.raises(ValidationFailed) as refused:
        save_upload(issue, upload(image_bytes("JPEG"), "eleventh.jpg"), user)
    assert "already has 10 photos and videos, the most allowed (10)" in \
        refused.value.errors["photo"]
    db.session.rollback()
    assert rows_of(issue) == 10
    assert stored_files(upload_dir) == before


def test_a_rolled_back_upload_leaves_no_file(make_issue, make_user, upload_dir):
    issue = make_issue()
    save_upload(issue, upload(image_bytes("JPEG"), "a.jpg"), make_user("maintenance"))
    assert len(stored_files(upload_dir)) == 2  # the photo and its thumbnail
    db.session.rollback()
    assert stored_files(upload_dir) == []
    assert rows_of(issue) == 0


def test_orphaned_files_are_swept(make_issue, make_user, upload_dir):
    attachment = save_upload(make_issue(), upload(image_bytes("JPEG"), "keep.jpg"),
                             make_user("maintenance"))
    db.session.commit()
    (upload_dir / "deadbeef.jpg").write_bytes(b"left by a crashed worker")
    (upload_dir / ".upload-abc").write_bytes(b"half an upload")
    assert attachments.remove_orphaned_files(older_than_seconds=3600) == []  # too new
    removed = attachments.remove_orphaned_files(older_than_seconds=-1)
    assert sorted(removed) == [".upload-abc", "deadbeef.jpg"]
    assert stored_files(upload_dir) == sorted([attachment.stored_name,
                                               attachment.thumbnail_name])


def test_operator_of_another_machine_cannot_upload(make_issue, make_user, upload_dir):
    issue = make_issue()
    with pytest.raises(Forbidden):
        save_upload(issue, upload(image_bytes("JPEG"), "a.jpg"), make_user("operator"))
    assert stored_files(upload_dir) == []


# --- delete -------------------------------------------------------------------------------

def test_delete_removes_the_files_after_commit(make_issue, make_user, upload_dir):
    issue = make_issue()
    user = make_user("maintenance")
    attachment = save_upload(issue, upload(image_bytes("JPEG"), "a.jpg"), user)
    db.session.commit()
    delete_attachment(user, attachment)
    assert len(stored_files(upload_dir)) == 2  # still there until the commit
    db.session.commit()
    assert stored_files(upload_dir) == []
    assert rows_of(issue) == 0


def test_only_uploader_or_workers_delete(make_issue, make_user, make_machine):
    uploader, other = make_user("operator"), make_user("operator")
    issue = make_issue(machine=make_machine(operators=[uploader, other]))
    attachment = save_upload(issue, upload(image_bytes("JPEG"), "a.jpg"), uploader)
    db.session.commit()
    with pytest.raises(Forbidden):
        delete_attachment(other, attachment)
    delete_attachment(make_user("quality"), attachment)
    db.session.commit()
    assert rows_of(issue) == 0


def test_delete_asks_first_without_javascript(logged_in, make_issue, upload_dir):
    browser, user = logged_in("maintenance")
    issue = make_issue()
    attachment = save_upload(issue, upload(image_bytes("JPEG"), "a.jpg"), user)
    db.session.commit()
    page = browser.get(f"/logbook/attachments/{attachment.id}/delete")
    assert page.status_code == 200
    assert "Delete this photo?" in text_of(page)
    assert rows_of(issue) == 1
    done = browser.post(f"/logbook/attachments/{attachment.id}/delete")
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/logbook/issues/{issue.id}#issue-{issue.id}-attachments")
    assert rows_of(issue) == 0
    assert stored_files(upload_dir) == []


# --- through the pages --------------------------------------------------------------------

def test_upload_form_with_htmx_returns_the_section(logged_in, make_issue, make_machine):
    browser, user = logged_in("operator")
    issue = make_issue(make_machine(operators=[user]))
    response = browser.post(f"/logbook/issues/{issue.id}/attachments",
                            {"photo": (io.BytesIO(image_bytes("JPEG")), "screen.jpg")},
                            headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = text_of(response)
    assert html.lstrip().startswith(f'<section class="panel attachments" id="issue-{issue.id}-attachments"')
    assert "screen.jpg" in html
    assert "Reading the text…" in html
    assert 'capture="environment"' in html and 'accept="image/*,video/*"' in html
    assert rows_of(issue) == 1


def test_refused_upload_shows_the_message(logged_in, make_issue, make_machine, upload_dir):
    browser, user = logged_in("operator")
    issue = make_issue(make_machine(operators=[user]))
    response = browser.post(f"/logbook/issues/{issue.id}/attachments",
                            {"photo": (io.BytesIO(ELF), "alarm.jpg")},
                            headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "“alarm.jpg” is a program, not a photo or video" in text_of(response)
    assert "Nothing was saved." in text_of(response)
    # Without JavaScript: the same section on a page of its own, with the message.
    page = browser.post(f"/logbook/issues/{issue.id}/attachments",
                        {"photo": (io.BytesIO(b"hello"), "notes.txt")})
    assert page.status_code == 422
    assert "<html" in text_of(page) and "is not a photo or video" in text_of(page)
    assert rows_of(issue) == 0
    assert stored_files(upload_dir) == []


def test_several_files_at_once_all_or_nothing(logged_in, make_issue, make_machine, upload_dir):
    browser, user = logged_in("operator")
    issue = make_issue(make_machine(operators=[user]))
    response = browser.post(f"/logbook/issues/{issue.id}/attachments",
                            {"photo": [(io.BytesIO(image_bytes("PNG")), "good.png"),
                                       (io.BytesIO(PE), "bad.jpg")]})
    assert response.status_code == 422
    assert rows_of(issue) == 0
    assert stored_files(upload_dir) == []
    done = browser.post(f"/logbook/issues/{issue.id}/attachments",
                        {"photo": [(io.BytesIO(image_bytes("PNG")), "one.png"),
                                   (io.BytesIO(mp4_bytes()), "two.mp4")]})
    assert done.status_code == 303
    assert rows_of(issue) == 2


def test_viewer_may_not_upload(logged_in, make_issue):
    browser, _ = logged_in("viewer")
    issue = make_issue()
    response = browser.post(f"/logbook/issues/{issue.id}/attachments",
                            {"photo": (io.BytesIO(image_bytes("JPEG")), "a.jpg")})
    assert response.status_code == 403
    assert rows_of(issue) == 0


# --- downloads by role --------------------------------------------------------------------

@pytest.fixture
def photo_on_machine(make_issue, make_machine, make_user):
    """A photo on an issue of a machine with one assigned operator."""
    operator = make_user("operator")
    machine = make_machine(operators=[operator])
    issue = make_issue(machine=machine)
    attachment = save_upload(issue, upload(image_bytes("JPEG"), "alarm screen.jpg"), operator)
    db.session.commit()
    return {"attachment_id": attachment.id, "operator": operator, "issue_id": issue.id}


def _login(new_browser, user):
    from tests.conftest import PASSWORD
    browser = new_browser()
    assert browser.login(user.username, PASSWORD).status_code == 302
    return browser


def test_assigned_operator_downloads(new_browser, photo_on_machine):
    browser = _login(new_browser, photo_on_machine["operator"])
    response = browser.get(f"/logbook/attachments/{photo_on_machine['attachment_id']}")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Disposition"].startswith("inline")
    assert "alarm%20screen.jpg" in response.headers["Content-Disposition"] or \
        "alarm screen.jpg" in response.headers["Content-Disposition"]
    assert "private" in response.headers["Cache-Control"]
    assert response.data[:3] == b"\xff\xd8\xff"
    thumb = browser.get(f"/logbook/attachments/{photo_on_machine['attachment_id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    assert thumb.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("suffix", ["", "/thumbnail"])
def test_another_operator_is_refused(new_browser, make_user, photo_on_machine, suffix):
    browser = _login(new_browser, make_user("operator"))
    response = browser.get(f"/logbook/attachments/{photo_on_machine['attachment_id']}{suffix}")
    assert response.status_code == 403


@pytest.mark.parametrize("suffix", ["", "/thumbnail"])
def test_anonymous_is_sent_to_login(client, photo_on_machine, suffix):
    response = client.get(f"/logbook/attachments/{photo_on_machine['attachment_id']}{suffix}")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["viewer", "maintenance", "shift_manager", "quality"])
def test_plant_wide_roles_download(new_browser, make_user, photo_on_machine, role):
    browser = _login(new_browser, make_user(role))
    response = browser.get(f"/logbook/attachments/{photo_on_machine['attachment_id']}")
    assert response.status_code == 200
    assert response.mimetype == "image/jpeg"


def test_video_is_served_inline_with_ranges(logged_in, make_issue):
    browser, user = logged_in("engineer")
    data = mp4_bytes()
    attachment = save_upload(make_issue(), upload(data, "noise.mp4"), user)
    db.session.commit()
    url = f"/logbook/attachments/{attachment.id}"
    response = browser.get(url)
    assert response.status_code == 200 and response.mimetype == "video/mp4"
    assert response.headers["Content-Disposition"].startswith("inline")
    part = browser.get(url, headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.data == data[:8]
    assert browser.get(url + "/thumbnail").status_code == 404


def test_missing_attachment_is_404(logged_in):
    browser, _ = logged_in("admin")
    assert browser.get("/logbook/attachments/999999").status_code == 404


# --- the section --------------------------------------------------------------------------

def test_section_empty_state_and_page(logged_in, make_issue):
    browser, _ = logged_in("maintenance")
    issue = make_issue()
    page = browser.get(f"/logbook/issues/{issue.id}/attachments")
    assert page.status_code == 200 and "<html" in text_of(page)
    assert "No photos or videos yet" in text_of(page)
    assert page.headers["Vary"] == "HX-Request" or "HX-Request" in page.headers["Vary"]
    partial = browser.get(f"/logbook/issues/{issue.id}/attachments",
                          headers={"HX-Request": "true"})
    assert "<html" not in text_of(partial)
    assert 'enctype="multipart/form-data"' in text_of(partial)


def test_section_shows_videos_ocr_states_and_codes(logged_in, make_issue):
    browser, user = logged_in("maintenance")
    issue = make_issue()
    video = save_upload(issue, upload(mp4_bytes(), "clip.mp4"), user)
    pending = save_upload(issue, upload(image_bytes("JPEG"), "pending.jpg"), user)
    done = save_upload(issue, upload(image_bytes("JPEG"), "done.jpg"), user)
    skipped = save_upload(issue, upload(image_bytes("JPEG"), "skipped.jpg"), user)
    failed = save_upload(issue, upload(image_bytes("JPEG"), "failed.jpg"), user)
    done.ocr_status, done.ocr_text, done.alarm_codes = "done", "SV0401 SERVO ALARM", ["SV0401"]
    skipped.ocr_status = "skipped"
    skipped.ocr_error = "Tesseract is not installed on this server, so the photo's text was not read."
    failed.ocr_status, failed.ocr_error = "failed", "Tesseract took longer than 30 s."
    db.session.commit()
    html = text_of(browser.get(f"/logbook/issues/{issue.id}/attachments",
                               headers={"HX-Request": "true"}))
    assert "<video controls" in html and f"/logbook/attachments/{video.id}" in html
    assert f'id="attachment-{pending.id}-ocr"' in html and "Reading the text…" in html
    assert "SV0401 SERVO ALARM" in html and "<code>SV0401</code>" in html
    assert "Tesseract is not installed on this server" in html
    assert "Tesseract took longer than 30 s." in html
    assert f'id="issue-{issue.id}-photo-codes"' in html
    assert "5 of 10" in html
    assert f"/logbook/attachments/{done.id}/thumbnail" in html


def test_read_again_marks_pending(logged_in, make_issue):
    browser, user = logged_in("maintenance")
    issue = make_issue()
    photo = save_upload(issue, upload(image_bytes("JPEG"), "a.jpg"), user)
    photo.ocr_status, photo.ocr_error = "skipped", "Tesseract is not installed"
    db.session.commit()
    response = browser.post(f"/logbook/attachments/{photo.id}/ocr",
                            headers={"HX-Request": "true"})
    assert response.status_code == 200
    db.session.refresh(photo)
    assert photo.ocr_status == "pending" and photo.ocr_error is None


def test_issue_page_includes_the_section(logged_in, make_issue, make_machine):
    browser, user = logged_in("operator")
    issue = make_issue(make_machine(operators=[user]))
    save_upload(issue, upload(image_bytes("PNG"), "screen.png"), user)
    db.session.commit()
    html = text_of(browser.get(f"/logbook/issues/{issue.id}"))
    assert f'id="issue-{issue.id}-attachments"' in html
    assert "screen.png" in html and 'capture="environment"' in html
