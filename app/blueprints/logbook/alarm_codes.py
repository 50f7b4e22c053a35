"""Alarm codes in text read from a controller's screen, without taking stray numbers.

A number counts only with something that makes it an alarm on a real controller:

    ALARM 1042, ALM 1042, ALARM NO. 1042, ALARM: 25000  → "ALARM 1042", "ALARM 25000"
    ERROR: 456, ERR 456, ERROR CODE 456, ERR#456        → "ERROR 456"
    E-1042, E1042                                        → "E-1042"
    AL-012, AL012                                        → "AL-012"
    SV0401, OT0500, PS0010, EX1004, SP9012, OH0700 …    → "SV0401" (Fanuc: 2 letters + 4 digits)

Siemens' 5–6 digit alarms count only after ALARM/ALM. Dates, times, counters,
temperatures, program and line numbers (O1234, N100), spindle speeds (S12000), feeds
(F300) and tools (T05) have none of these and are never codes.

OCR often reads a 0 as the letter O ("SVO401", "AL-O12"): right after a code's prefix an O
is taken as 0; and an E it read as £ is an E.
"""

import re

# Fanuc 0i/30i alarm groups: servo, overtravel, program, external, spindle, overheat,
# SRAM, I/O, power-off-required, background edit, safety, system.
FANUC_PREFIXES = ("SV", "OT", "PS", "EX", "SP", "OH", "SR", "IO", "PW", "BG", "DS", "IA",
                  "IE", "SW", "SY", "OS")

# Letters Tesseract reads for others on screen photos ("£-1042" is E-1042).
OCR_LOOKALIKES = str.maketrans({"£": "E", "€": "E"})

# A number must end where the token ends: "12:45", "72.5", "2024-01-15" and "1/2" go on
# with another number after a separator, so they are not codes.
_END = r"(?![0-9A-Za-z]|[.,:/-][0-9])"
_START = r"(?<![0-9A-Za-z.:/-])"

_KEYWORD = re.compile(
    _START + r"(?P<word>ALARM|ALM|ERROR|ERR)"
    # Same line only: a screen titled "ALARM" above "O1234 N100" has no alarm 1234.
    r"(?P<sep>[ \t]*(?:[:#]|-|NO\.?|NR\.?|NUMBER|CODE)?[ \t]*(?:[:#][ \t]*)?)"
    r"(?P<num>[0-9O]{1,6})" + _END,
    re.IGNORECASE)
_E_CODE = re.compile(_START + r"E(?P<dash>-?)(?P<num>[0-9O]{2,5})" + _END)
_AL_CODE = re.compile(_START + r"AL-?(?P<num>[0-9O]{2,4})" + _END)
_FANUC = re.compile(_START + r"(?P<group>" + "|".join(FANUC_PREFIXES) + r")(?P<num>[0-9O]{4})"
                    + _END)


def _digits(raw, minimum_real=2, leading_o=False):
    """`raw` with OCR's O read as 0, or None if too few of its characters are real digits.

    A leading O is a misread 0 only right after a code's own prefix ("SVO401", "AL-O12");
    after a word ("ALARM O1234") it is a program number.
    """
    real = sum(c.isdigit() for c in raw)
    if real < minimum_real or (raw[0] in "Oo" and not leading_o):
        return None
    return raw.upper().replace("O", "0")


def _keyword_code(match):
    word = match.group("word").upper()
    sep = match.group("sep").strip()
    num = _digits(match.group("num"))
    if num is None:
        return None
    # "ALARM 3" on a status bar is a count; a code has 3+ digits unless labelled as one.
    explicit = bool(sep) and sep not in ("-",)
    if len(num) < (2 if explicit else 3):
        return None
    if word in ("ALARM", "ALM"):
        return f"ALARM {num}"
    if len(num) > 4 and not explicit:
        return None  # "ERROR 20240115" is a date run together, not a code
    return f"ERROR {num}"


def find_alarm_codes(text):
    """Normalised alarm codes in `text`, first seen first, each once."""
    if not text:
        return []
    text = text.translate(OCR_LOOKALIKES)
    found = []  # (position, code)
    taken = []  # spans already used, so "ALARM E-1042" is not read twice

    def add(match, code):
        if code is None:
            return
        span = match.span()
        if any(span[0] < end and start < span[1] for start, end in taken):
            return
        taken.append(span)
        found.append((span[0], code))

    for match in _KEYWORD.finditer(text):
        add(match, _keyword_code(match))
    for match in _FANUC.finditer(text):
        num = _digits(match.group("num"), minimum_real=3, leading_o=True)
        add(match, f"{match.group('group')}{num}" if num else None)
    for match in _AL_CODE.finditer(text):
        num = _digits(match.group("num"), leading_o="-" in match.group())
        add(match, f"AL-{num}" if num else None)
    for match in _E_CODE.finditer(text):
        num = _digits(match.group("num"), leading_o=bool(match.group("dash")))
        # Without the dash only 3–5 digits: "E12" is too like a thread or a cell name.
        if num and (match.group("dash") or len(num) >= 3):
            add(match, f"E-{num}")
    codes = []
    for _, code in sorted(found):
        if code not in codes:
            codes.append(code)
    return codes
