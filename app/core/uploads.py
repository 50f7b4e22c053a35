"""Uploaded photos and videos: checked by content, stored under random names.

A file is received into a temporary name in UPLOAD_DIR (or a sub-folder of it), measured
as it arrives, sniffed by its first bytes, and (pictures) decoded by Pillow as a final
check and thumbnailed. Only a file that passes every check gets its final random name.

Names written in a transaction are kept on the session: if it ends without a commit, the
files are removed. Files of deleted rows go only after the delete commits
(`remove_after_commit`). `remove_orphaned_files()` sweeps anything left over (a process
killed between rename and commit). The domains keep their own rules (what a file belongs
to, how many are allowed); this module imports none of them.
"""

import logging
import os
import secrets
import tempfile
import time
import warnings
from pathlib import Path

from flask import abort, current_app, send_file
from flask_sqlalchemy.session import Session
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event

from .after_commit import after_commit
from .errors import ValidationFailed
from .extensions import db

log = logging.getLogger(__name__)

# The form field uploads come in by, and where their errors land.
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


class FileTooLarge(ValidationFailed):
    """The file is over UPLOAD_MAX_BYTES (the API answers 413, the pages a form error)."""


class WrongKindOfFile(ValidationFailed):
    """The file's content or name is not an allowed kind (the API answers 415)."""


class Sniffed:
    """What the first bytes say a file is."""

    def __init__(self, kind, content_type, extension, pillow_format=None):
        self.kind, self.content_type = kind, content_type
        self.extension, self.pillow_format = extension, pillow_format


class StoredFile:
    """A file that passed its checks: its final name (and thumbnail's), size and format."""

    def __init__(self, name, thumbnail_name, size, sniffed):
        self.name, self.thumbnail_name = name, thumbnail_name
        self.size, self.sniffed = size, sniffed

    @property
    def names(self):
        return [n for n in (self.name, self.thumbnail_name) if n]


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


def send_stored(name, content_type, download_name, sub=""):
    """A stored file as the answer to a request (404 when it is gone). Opened on its own, it
    runs nothing and loads nothing else, and only the person's browser may cache it."""
    path = file_path(name, sub)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=content_type, download_name=download_name,
                         as_attachment=False, conditional=True, max_age=300)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = ("default-src 'none'; img-src 'self'; "
                                                   "media-src 'self'; sandbox")
    response.cache_control.private = True
    response.cache_control.public = False
    return response


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


def megabytes(size):
    return f"{size / (1024 * 1024):g} MB"


# --- storing ---------------------------------------------------------------------------------

def store(file_storage, original, check, sub="", thumbnail=True):
    """Receive, check and store one upload under a random name; returns a StoredFile.

    `check(sniffed, head)` is the caller's say on the content: it raises ValidationFailed for
    what it does not take (`sniffed` is None when the bytes are no format we know). The
    files stay only if the transaction commits. Nothing is left behind on a refusal.
    """
    directory = upload_dir(sub)
    temp_path = receive_file(file_storage, directory, current_app.config["UPLOAD_MAX_BYTES"],
                             original)
    thumb_temp = None
    try:
        size = temp_path.stat().st_size
        with temp_path.open("rb") as fh:
            head = fh.read(32)
        sniffed = sniff(head)
        check(sniffed, head)
        if sniffed.kind == "image":
            thumb_temp = verify_image_and_thumbnail(temp_path, sniffed, original, directory)
        token = secrets.token_hex(16)
        stored = StoredFile(f"{token}.{sniffed.extension}",
                            f"{token}-thumb.jpg" if thumb_temp and thumbnail else None,
                            size, sniffed)
        # Final names only now that the file passed every check.
        if stored.thumbnail_name:
            os.replace(thumb_temp, directory / stored.thumbnail_name)
            thumb_temp = None
        os.replace(temp_path, directory / stored.name)
    finally:
        for leftover in (temp_path, thumb_temp):
            if leftover is not None:
                Path(leftover).unlink(missing_ok=True)
    remove_unless_committed([f"{sub}/{n}" if sub else n for n in stored.names])
    return stored


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
                    raise FileTooLarge({FIELD: f"“{original}” is larger than "
                                                   f"{megabytes(max_bytes)}. Take a shorter "
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


# --- removing ---------------------------------------------------------------------------------

def remove_files(names):
    """Remove stored files by their names relative to UPLOAD_DIR ("andon/<name>" in a
    sub-folder); missing ones are fine."""
    try:
        directory = Path(current_app.config["UPLOAD_DIR"])
    except RuntimeError:
        return
    for name in names:
        try:
            (directory / name).unlink(missing_ok=True)
        except OSError:
            log.warning("could not remove upload %s", name, exc_info=True)


def remove_after_commit(names):
    """The files of a deleted row: removed once the delete has committed."""
    after_commit(remove_files, list(names))


def remove_unless_committed(names):
    """Files just written for this transaction: removed if it ends without a commit."""
    db.session.info.setdefault(PENDING_FILES, []).extend(names)


def remove_orphaned_files(known, older_than_seconds=3600):
    """Delete files in UPLOAD_DIR whose names are not in `known` (and stale temp files).

    Only files older than `older_than_seconds` are touched, so an upload between its
    rename and its commit is never swept away. Returns the names removed.
    """
    cutoff = time.time() - older_than_seconds
    removed = []
    for entry in upload_dir().iterdir():
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


# --- files follow the transaction -------------------------------------------------------------

def _after_commit(session):
    session.info.pop(PENDING_FILES, None)  # their rows are safe now


def _after_transaction_end(session, transaction):
    """The outermost transaction ended without a commit (rollback, or the session closed
    after an error): files written for it have no rows, so they go."""
    if transaction.parent is not None:
        return
    remove_files(session.info.pop(PENDING_FILES, []))


if not event.contains(Session, "after_commit", _after_commit):
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_transaction_end", _after_transaction_end)
