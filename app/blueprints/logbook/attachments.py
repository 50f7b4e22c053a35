"""Photos and videos on logbook issues: the logbook's own rules around app.core.uploads.

A file is accepted only when its first bytes are one of the allowed formats AND its name's
extension names the same kind (a photo as .jpg/.jpeg/.png/.gif, a video as
.mp4/.mov/.avi); an issue holds at most UPLOAD_MAX_PER_ISSUE of them; a photo's text is
read (OCR) by a job after commit. Checking and storing the bytes is app.core.uploads'.

Services flush but never commit.
"""

from flask import current_app
from sqlalchemy import func, select

from app.core import uploads
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.jobs.queue import enqueue_after_commit

from .access import WORKERS, can_see_issue
from .models import Attachment, Issue

# --- the upload -----------------------------------------------------------------------------

def save_upload(issue, file_storage, user, remedy=None):
    """Check and store one uploaded photo or video on `issue`; returns the flushed row.

    Raises ValidationFailed({"photo": message}) and stores nothing when the file is
    missing, too big, not a photo/video by its content, named as the wrong kind, or the
    issue already has the most attachments allowed.
    """
    if not can_see_issue(user, issue):
        raise Forbidden("You may not add files to this issue.")
    if remedy is not None and remedy.issue is not issue:
        raise _refused("That remedy belongs to another issue.")
    if file_storage is None or not (file_storage.filename or "").strip():
        raise _refused("Choose a photo or video to upload.")
    original = uploads.clean_name(file_storage.filename)
    ext = uploads.extension_of(original)
    if ext not in uploads.ALLOWED_EXTENSIONS:
        raise _refused(f"“{original}” is not a photo or video: use "
                       + ", ".join(uploads.ALLOWED_EXTENSIONS) + " files.",
                       uploads.WrongKindOfFile)
    _check_room(issue, current_app.config["UPLOAD_MAX_PER_ISSUE"])
    stored = uploads.store(file_storage, original,
                           lambda sniffed, head: _check_kind(original, ext, sniffed, head))
    kind = stored.sniffed.kind
    attachment = Attachment(issue=issue, remedy=remedy, kind=kind,
                            content_type=stored.sniffed.content_type, original_name=original,
                            stored_name=stored.name, thumbnail_name=stored.thumbnail_name,
                            size=stored.size, uploaded_by=user, alarm_codes=[],
                            ocr_status="pending" if kind == "image" else None)
    db.session.add(attachment)
    try:
        db.session.flush()
    except Exception:
        uploads.remove_files(stored.names)
        raise
    if attachment.kind == "image":
        enqueue_after_commit("app.jobs.ocr.read_attachment", attachment.id)
    return attachment


def _refused(message, kind=ValidationFailed):
    return kind({uploads.FIELD: message})


def _check_kind(original, ext, sniffed, head):
    """The content must be a photo or video, and the kind its name says."""
    if sniffed is None:
        raise _refused(f"“{original}” is {uploads.describe_content(head)}, not a photo or "
                       "video. Use JPEG, PNG or GIF photos and MP4, MOV or AVI videos.",
                       uploads.WrongKindOfFile)
    wanted_kind = "image" if ext in uploads.IMAGE_EXTENSIONS else "video"
    if sniffed.kind != wanted_kind:
        raise _refused(f"“{original}” is named as a {_kind_word(wanted_kind)} but its "
                       f"content is a {_kind_word(sniffed.kind)} "
                       f"({sniffed.extension.upper()}). Rename it or choose another file.",
                       uploads.WrongKindOfFile)


def _kind_word(kind):
    return "photo" if kind == "image" else "video"


def _check_room(issue, max_per_issue):
    """At most `max_per_issue` files on an issue; the issue row is locked so two uploads at
    once cannot both take the last place."""
    if issue.id is not None:
        db.session.execute(select(Issue.id).where(Issue.id == issue.id).with_for_update())
        count = db.session.scalar(select(func.count(Attachment.id))
                                  .where(Attachment.issue_id == issue.id))
    else:
        count = 0
    count += sum(1 for a in db.session.new if isinstance(a, Attachment) and a.issue is issue)
    if count >= max_per_issue:
        raise _refused(f"This issue already has {count} photos and videos, the most allowed "
                       f"({max_per_issue}). Delete one first.")


# --- other changes --------------------------------------------------------------------------

def can_delete(user, attachment):
    """The person who uploaded it, and those who work on issues."""
    return (user.role in WORKERS or attachment.uploaded_by_id == user.id) and \
        can_see_issue(user, attachment.issue)


def delete_attachment(user, attachment):
    """Delete the row; its files go once the delete has committed."""
    if not can_delete(user, attachment):
        raise Forbidden("Only the person who added it, or maintenance, may delete it.")
    names = [n for n in (attachment.stored_name, attachment.thumbnail_name) if n]
    db.session.delete(attachment)
    db.session.flush()
    uploads.remove_after_commit(names)


def request_ocr(attachment):
    """Read the photo's text again (after installing Tesseract, say)."""
    if attachment.kind != "image":
        raise ValidationFailed({"": "Only photos are read for alarm codes."})
    attachment.ocr_status = "pending"
    attachment.ocr_error = None
    db.session.flush()
    enqueue_after_commit("app.jobs.ocr.read_attachment", attachment.id)


def remove_orphaned_files(older_than_seconds=3600):
    """Delete files in UPLOAD_DIR that no attachment row names (and stale temp files);
    returns the names removed (see app.core.uploads.remove_orphaned_files)."""
    known = set()
    for stored, thumb in db.session.execute(select(Attachment.stored_name,
                                                   Attachment.thumbnail_name)):
        known.update(n for n in (stored, thumb) if n)
    return uploads.remove_orphaned_files(known, older_than_seconds)
