"""The text on an attachment's photo, and the alarm codes in it.

The OCR job (app/jobs/ocr.py) calls read_photo in the worker. Safe to run twice: the
result is written over the last one, and the issue's alarm code is only ever filled when
empty. Functions here flush; the job commits.
"""

import logging

from app.core import uploads
from app.core.extensions import db
from app.integrations import ocr
from app.realtime import publish_after_commit

from .alarm_codes import find_alarm_codes
from .models import Attachment

log = logging.getLogger(__name__)

NOT_INSTALLED = "Tesseract is not installed on this server, so the photo's text was not read."


def read_photo(attachment_id):
    """OCR one image attachment; fills the issue's alarm code if it has none. Returns the
    status it ended with; unexpected errors propagate (see read_failed)."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        return "gone"  # deleted before the worker got to it
    if attachment.kind != "image":
        return "not an image"
    try:
        path = uploads.file_path(attachment.stored_name)
        if not path.is_file():
            raise ocr.OcrFailed("The stored file is missing.")
        text = ocr.read_text(path)
    except ocr.OcrUnavailable as exc:
        log.warning("OCR skipped for attachment %s: %s", attachment_id, exc.message)
        _finish(attachment, "skipped", error=NOT_INSTALLED)
        return "skipped"
    except ocr.OcrFailed as exc:
        log.warning("OCR failed for attachment %s: %s", attachment_id, exc.message)
        _finish(attachment, "failed", error=exc.message)
        return "failed"
    codes = find_alarm_codes(text)
    filled = fill_alarm_code(attachment.issue, codes)
    _finish(attachment, "done", text=text, codes=codes, filled=filled)
    return "done"


def fill_alarm_code(issue, codes):
    """The first code found becomes the issue's alarm code if it has none; True if it did."""
    filled = bool(codes) and not (issue.alarm_code or "").strip()
    if filled:
        issue.alarm_code = codes[0]
    return filled


def read_failed(attachment_id):
    """After an unexpected error (rolled back): not left "Reading the text…" for ever."""
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is not None:
        _finish(attachment, "failed", error="Reading the text went wrong; try again.")


def _finish(attachment, status, text=None, codes=(), error=None, filled=False):
    attachment.ocr_status = status
    attachment.ocr_text = text
    attachment.alarm_codes = list(codes)
    attachment.ocr_error = error
    # The issue page shows the result live; `alarm_code_filled` tells it the code changed.
    publish_after_commit("attachment.read", id=attachment.id, issue_id=attachment.issue_id,
                         alarm_code_filled=filled)
