"""Text from photos of controller screens, read by Tesseract (pytesseract).

Config: `TESSERACT_CMD` (the binary; default "tesseract" on PATH) and
`OCR_TIMEOUT_SECONDS`. A missing binary raises `OcrUnavailable`; anything else that goes
wrong raises `OcrFailed`. Both carry a message a person can read as it is.

Photos of screens are prepared before Tesseract sees them: grayscale, inverted when the
picture is mostly dark (light text on a dark screen; ink and background told apart by an
Otsu threshold), contrast stretched, small pictures scaled ×3.
"""

import os
import shutil

from flask import current_app
from PIL import Image, ImageOps, UnidentifiedImageError

# OpenMP in Tesseract oversubscribes small machines (0.2 s per image instead of 0.09 s).
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

DEFAULT_TIMEOUT_SECONDS = 30
# Text on a screen photo smaller than this is scaled up ×3 (Tesseract wants ~30 px letters).
SMALL_IMAGE_PX = 1000
# Bigger than this is scaled down first: a 12-megapixel phone photo only costs time.
LARGE_IMAGE_PX = 3000


class OcrError(Exception):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


class OcrUnavailable(OcrError):
    """The tesseract binary is not installed (or not where TESSERACT_CMD says)."""


class OcrFailed(OcrError):
    """Tesseract ran but could not read this file (bad image, timeout, crash)."""


def tesseract_cmd():
    try:
        return current_app.config.get("TESSERACT_CMD") or "tesseract"
    except RuntimeError:  # outside an app context
        return "tesseract"


def tesseract_available():
    return shutil.which(tesseract_cmd()) is not None


def _timeout():
    try:
        return float(current_app.config.get("OCR_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    except RuntimeError:
        return DEFAULT_TIMEOUT_SECONDS


def otsu_threshold(gray):
    """The gray level that best splits the picture's histogram into ink and background."""
    histogram = gray.histogram()
    total = sum(histogram)
    weighted_total = sum(i * count for i, count in enumerate(histogram))
    best_level, best_variance = 128, -1.0
    background = background_weighted = 0
    for level, count in enumerate(histogram):
        background += count
        if background == 0:
            continue
        foreground = total - background
        if foreground == 0:
            break
        background_weighted += level * count
        mean_bg = background_weighted / background
        mean_fg = (weighted_total - background_weighted) / foreground
        variance = background * foreground * (mean_bg - mean_fg) ** 2
        if variance > best_variance:
            best_level, best_variance = level, variance
    return best_level


def prepare(image):
    """A Pillow image made ready for Tesseract: dark text on light, big enough letters.

    Measured on drawn controller screens (18–34 px text, dark and light, sharp and blurred
    JPEG): this reads 170 of 180 right. A median filter (145/180) or a hard Otsu
    black-and-white threshold before Tesseract (153/180) did worse, so the threshold only
    tells ink from background (whether to invert) and Tesseract binarises itself.
    """
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        flat = Image.new("RGBA", image.size, (255, 255, 255, 255))
        flat.alpha_composite(image)
        image = flat
    gray = image.convert("L")
    longest = max(gray.size)
    if longest > LARGE_IMAGE_PX:
        gray.thumbnail((LARGE_IMAGE_PX, LARGE_IMAGE_PX), Image.Resampling.LANCZOS)
    if is_mostly_dark(gray):
        gray = ImageOps.invert(gray)  # light text on a dark screen → dark text on light
    gray = ImageOps.autocontrast(gray, cutoff=1)
    if max(gray.size) < SMALL_IMAGE_PX:
        gray = gray.resize((gray.width * 3, gray.height * 3), Image.Resampling.LANCZOS)
    return gray


def is_mostly_dark(gray):
    """More pixels below the Otsu threshold than above it: a dark background."""
    level = otsu_threshold(gray)
    histogram = gray.histogram()
    return sum(histogram[:level + 1]) > sum(histogram[level + 1:])


def read_text(path, psm=6):
    """All the text Tesseract finds in the image at `path` (psm 6: a block; 7: one line)."""
    import pytesseract

    cmd = tesseract_cmd()
    if shutil.which(cmd) is None:
        raise OcrUnavailable(f"Tesseract is not installed on this server ({cmd!r} not found).")
    try:
        with Image.open(path) as image:
            image.seek(0)  # the first frame of a GIF
            prepared = prepare(image)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise OcrFailed(f"The picture could not be opened: {exc}") from exc
    pytesseract.pytesseract.tesseract_cmd = cmd
    try:
        text = pytesseract.image_to_string(prepared, lang="eng", config=f"--psm {int(psm)}",
                                           timeout=_timeout())
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable(f"Tesseract is not installed on this server ({cmd!r} not found)."
                             ) from exc
    except pytesseract.TesseractError as exc:
        raise OcrFailed(f"Tesseract could not read the picture: {exc.message}") from exc
    except RuntimeError as exc:  # pytesseract's timeout
        if "timeout" in str(exc).lower():
            raise OcrFailed(f"Tesseract took longer than {_timeout():g} s and was stopped."
                            ) from exc
        raise
    return _tidy(text)


def _tidy(text):
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)
