"""Photos and videos on logbook issues: checked by content, stored under random names.

A file is accepted only when its first bytes are one of the allowed formats AND its name's
extension names the same kind (a photo as .jpg/.jpeg/.png/.gif, a video as
.mp4/.mov/.avi). Images are decoded by Pillow as a final check and get a JPEG thumbnail.

Files are written to a temporary name in UPLOAD_DIR while they are checked and renamed to
their final random name only once they pass. The names written in a transaction are kept
on the session: if it ends without a commit, the files are removed; files of deleted rows
are removed only after the delete commits (app.core.after_commit). `remove_orphaned_files()`
sweeps anything left over (a process killed between rename and commit).

Services flush but never commit.
"""

import logging
import os
import secrets
import tempfile
import time
import warnings
from pathlib import Path

from flask import current_app
from flask_sqlalchemy.session import Session
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event, func, select

from app.core.after_commit import after_commit
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.jobs.queue import enqueue_after_commit

from .access import WORKERS, can_see_issue
from .models import Attachment, Issue

log = logging.getLogger(__name__)

FIELD = "photo"
THUMBNAIL_PX = 320
# A photo bigger than this many pixels is refused (a "decompression bomb" is tiny on disk).
MAX_PIXELS = 60_000_000
CHUNK = 64 * 1024
TEMP_PREFIX = ".upload-"

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "gif")
VIDEO_EXTENSIONS = ("mp4", "mov", "avi")
ALLOWED_EXTENSIONS = IMAGE_EXTENSIONS + VIDEO_EXTENSIONS
ACCEPT = "image/*,video/*"
# ISO base media (MP4/QuickTime) brands that are video; HEIC/AVIF photos and M4A audio use
# the same container with other brands and are refused.
VIDEO_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42",
                b"avc1", b"M4V ", b"M4VP", b"M4VH", b"dash", b"mmp4", b"MSNV", b"NDAS",
                b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"f4v ", b"qt  "}

PENDING_FILES = "floorline_new_upload_files"


class Sniffed:
    """What the first bytes say a file is."""

    def __init__(self, kind, content_type, extension, pillow_format=None):
        self.kind, self.content_type = kind, content_type
        self.extension, self.pillow_format = extension, pillow_format


def sniff(head):
    """The format of a file from its first 16+ bytes, or None if it is none we take."""
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "image/jpeg", "jpg", "JPEG")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "image/png", "png", "PNG")
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return Sniffed("image", "image/gif", "gif", "GIF")
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in VIDEO_BRANDS:
        if head[8:12] == b"qt  ":
            return Sniffed("video", "video/quicktime", "mov")
        return Sniffed("video", "video/mp4", "mp4")
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return Sniffed("video", "video/x-msvideo", "avi")
    return None


def describe_content(head):
    """A plain word for what a refused file looks like, for the message."""
    if head.startswith(b"\x7fELF") or head.startswith(b"MZ"):
        return "a program"
    if head[:4] == b"%PDF":
        return "a PDF document"
    if head.startswith(b"PK\x03\x04"):
        return "an archive or office document"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1",
                                                                   b"avif", b"msf1"):
        return "a HEIC/AVIF photo (set the camera to JPEG, \"Most compatible\")"
    if not head:
        return "empty"
    return "not a photo or video we can show"


def upload_dir(sub=""):
    """The uploads folder, or one of its sub-folders (andon photos keep their own)."""
    path = Path(current_app.config["UPLOAD_DIR"]) / sub
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_path(name, sub=""):
    """Where a stored name lives; stored names are ours (hex), never a user's path."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"not a stored file name: {name!r}")
    return upload_dir(sub) / name


def extension_of(filename):
    _, dot, ext = (filename or "").rpartition(".")
    return ext.lower() if dot else ""


def clean_name(filename):
    """The original name for showing and for Content-Disposition: no paths, bounded."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(c for c in name if c.isprintable())
    if len(name) > 200:
        ext = extension_of(name)
        name = name[:190] + ("." + ext if ext else "")
    return name or "upload"


def _limits():
    config = current_app.config
    return config["UPLOAD_MAX_BYTES"], config["UPLOAD_MAX_PER_ISSUE"]


def _megabytes(size):
    return f"{size / (1024 * 1024):g} MB"


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
        raise ValidationFailed({FIELD: "That remedy belongs to another issue."})
    if file_storage is None or not (file_storage.filename or "").strip():
        raise ValidationFailed({FIELD: "Choose a photo or video to upload."})
    max_bytes, max_per_issue = _limits()
    original = clean_name(file_storage.filename)
    ext = extension_of(original)
    if ext not in ALLOWED_EXTENSIONS:
        raise ValidationFailed({FIELD: f"“{original}” is not a photo or video: use "
                                       + ", ".join(ALLOWED_EXTENSIONS) + " files."})
    _check_room(issue, max_per_issue)

    directory = upload_dir()
    temp_path = receive_file(file_storage, directory, max_bytes, original)
    thumb_temp = None
    try:
        size = temp_path.stat().st_size
        with temp_path.open("rb") as fh:
            head = fh.read(32)
        sniffed = sniff(head)
        if sniffed is None:
            raise ValidationFailed({FIELD: f"“{original}” is {describe_content(head)}, not a photo "
                                           "or video. Use JPEG, PNG or GIF photos and MP4, "
                                           "MOV or AVI videos."})
        wanted_kind = "image" if ext in IMAGE_EXTENSIONS else "video"
        if sniffed.kind != wanted_kind:
            raise ValidationFailed({FIELD: f"“{original}” is named as a {_kind_word(wanted_kind)}"
                                           f" but its content is a {_kind_word(sniffed.kind)} "
                                           f"({sniffed.extension.upper()}). Rename it or "
                                           "choose another file."})
        if sniffed.kind == "image":
            thumb_temp = verify_image_and_thumbnail(temp_path, sniffed, original, directory)
        token = secrets.token_hex(16)
        stored_name = f"{token}.{sniffed.extension}"
        thumbnail_name = f"{token}-thumb.jpg" if thumb_temp else None
        # Final names only now that the file passed every check.
        if thumb_temp:
            os.replace(thumb_temp, directory / thumbnail_name)
            thumb_temp = None
        os.replace(temp_path, directory / stored_name)
    except BaseException:
        for leftover in (temp_path, thumb_temp):
            if leftover is not None:
                Path(leftover).unlink(missing_ok=True)
        raise
    written = [n for n in (stored_name, thumbnail_name) if n]
    db.session.info.setdefault(PENDING_FILES, []).extend(written)

    attachment = Attachment(issue=issue, remedy=remedy, kind=sniffed.kind,
                            content_type=sniffed.content_type, original_name=original,
                            stored_name=stored_name, thumbnail_name=thumbnail_name, size=size,
                            uploaded_by=user, alarm_codes=[],
                            ocr_status="pending" if sniffed.kind == "image" else None)
    db.session.add(attachment)
    try:
        db.session.flush()
    except Exception:
        _remove_files(written)
        raise
    if attachment.kind == "image":
        enqueue_after_commit("app.jobs.ocr.read_attachment", attachment.id)
    return attachment


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
        raise ValidationFailed({FIELD: f"This issue already has {count} photos and videos, "
                                       f"the most allowed ({max_per_issue}). Delete one first."})


def receive_file(file_storage, directory, max_bytes, original):
    """Copy the upload to a temporary file, measuring as it goes (headers can lie)."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
    path = Path(name)
    try:
        written = 0
        stream = file_storage.stream
        if hasattr(stream, "seekable") and stream.seekable():
            stream.seek(0)
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise ValidationFailed({FIELD: f"“{original}” is larger than "
                                                   f"{_megabytes(max_bytes)}. Take a shorter "
                                                   "video or a smaller photo."})
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if written == 0:
            raise ValidationFailed({FIELD: f"“{original}” is empty."})
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def verify_image_and_thumbnail(path, sniffed, original, directory):
    """Decode the picture with Pillow (a damaged or disguised file fails here) and write a
    ≤ 320 px JPEG thumbnail to a temporary file; returns its path."""
    refused = ValidationFailed({FIELD: f"“{original}” could not be read as a "
                                       f"{sniffed.extension.upper()} picture; it may be "
                                       "damaged."})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                if image.format != sniffed.pillow_format:
                    raise refused
                if image.width * image.height > MAX_PIXELS:
                    raise ValidationFailed({FIELD: f"“{original}” has too many pixels "
                                                   f"({image.width}×{image.height})."})
                image.verify()
            # verify() leaves the image unusable; open again to draw the thumbnail.
            with Image.open(path) as image:
                image.seek(0)
                thumb = ImageOps.exif_transpose(image)
                thumb.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
                thumb = _flatten(thumb)
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".jpg", dir=directory)
            try:
                with os.fdopen(fd, "wb") as out:
                    thumb.save(out, "JPEG", quality=80, optimize=True)
            except BaseException:
                Path(name).unlink(missing_ok=True)
                raise
            return Path(name)
    except ValidationFailed:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError,
            Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        log.info("refused picture %r: %s", original, exc)
        raise refused from exc


def _flatten(image):
    """RGB on white (JPEG has no transparency)."""
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        flat = Image.new("RGB", image.size, (255, 255, 255))
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image.convert("RGB")


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
    after_commit(_remove_files, names)


def request_ocr(attachment):
    """Read the photo's text again (after installing Tesseract, say)."""
    if attachment.kind != "image":
        raise ValidationFailed({"": "Only photos are read for alarm codes."})
    attachment.ocr_status = "pending"
    attachment.ocr_error = None
    db.session.flush()
    enqueue_after_commit("app.jobs.ocr.read_attachment", attachment.id)


def remove_orphaned_files(older_than_seconds=3600):
    """Delete files in UPLOAD_DIR that no attachment row names (and stale temp files).

    Only files older than `older_than_seconds` are touched, so an upload between its
    rename and its commit is never swept away. Returns the names removed.
    """
    directory = upload_dir()
    known = set()
    for stored, thumb in db.session.execute(select(Attachment.stored_name,
                                                   Attachment.thumbnail_name)):
        known.update(n for n in (stored, thumb) if n)
    cutoff = time.time() - older_than_seconds
    removed = []
    for entry in directory.iterdir():
        if not entry.is_file() or entry.name in known:
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                entry.unlink()
                removed.append(entry.name)
        except FileNotFoundError:
            continue
    if removed:
        log.info("removed %s orphaned upload files", len(removed))
    return removed


# --- files follow the transaction -----------------------------------------------------------

def _remove_files(names):
    try:
        directory = Path(current_app.config["UPLOAD_DIR"])
    except RuntimeError:
        return
    for name in names:
        try:
            (directory / name).unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove upload %s", name, exc_info=True)


def _after_commit(session):
    session.info.pop(PENDING_FILES, None)  # their rows are safe now


def _after_transaction_end(session, transaction):
    """The outermost transaction ended without a commit (rollback, or the session closed
    after an error): files written for it have no rows, so they go."""
    if transaction.parent is not None:
        return
    _remove_files(session.info.pop(PENDING_FILES, []))


if not event.contains(Session, "after_commit", _after_commit):
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_transaction_end", _after_transaction_end)
