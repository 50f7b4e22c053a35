"""The readings table (pages by keyset on the time) and the CSV export.

The CSV streams rows from a server-side cursor, so a long range never sits in memory.
"""

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, select

from app.core.extensions import db
from app.core.models import as_utc

from .live_values import show_value
from .models import Reading
from .ranges import INPUT_FORMAT, RangeError, iso_z

PAGE_SIZE = 50
CSV_CHUNK = 500               # rows per streamed piece of the CSV


@dataclass
class ReadingsPage:
    rows: list               # (ts, source, [ShownValue per metric, blank where absent])
    metrics: list
    start: datetime | None
    end: datetime | None
    zone: object
    newer: str | None = None     # cursor for ?after=
    older: str | None = None     # cursor for ?before=
    is_newest: bool = True

    @property
    def zone_label(self):
        return "UTC" if self.zone is UTC else str(self.zone)

    def local_input(self, which):
        value = getattr(self, which)
        return value.astimezone(self.zone).strftime(INPUT_FORMAT) if value else ""

    @property
    def args(self):
        """The range as URL arguments, for the pager and the CSV link."""
        args = {}
        if self.start:
            args["from"] = iso_z(self.start)
        if self.end:
            args["to"] = iso_z(self.end)
        if self.zone is not UTC:
            args["tz"] = str(self.zone)
        return args

    def local_time(self, ts):
        return as_utc(ts).astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")


def _cursor(value):
    return as_utc(value).astimezone(UTC).isoformat()


def parse_cursor(text):
    try:
        return as_utc(datetime.fromisoformat(text))
    except (TypeError, ValueError):
        raise RangeError(f"'{(text or '')[:40]}' is not a page position.") from None


def _in_range(machine, start, end):
    conditions = [Reading.machine_id == machine.id]
    if start:
        conditions.append(Reading.ts >= start)
    if end:
        conditions.append(Reading.ts < end)
    return and_(*conditions)


def readings_page(machine, start=None, end=None, zone=UTC, before=None, after=None,
                  size=PAGE_SIZE):
    """One page of readings, newest first, by keyset on the time (before/after a cursor)."""
    where = _in_range(machine, start, end)
    query = select(Reading.ts, Reading.source, Reading.values).where(where)
    rows = []
    if after is not None:
        rows = db.session.execute(query.where(Reading.ts > after).order_by(Reading.ts)
                                  .limit(size)).all()[::-1]
        if len(rows) < size:
            after = rows = None  # back at the newest readings: show a full first page
    if not rows:
        if after is None and before is not None:
            query = query.where(Reading.ts < before)
        rows = db.session.execute(query.order_by(Reading.ts.desc()).limit(size)).all()
    metrics = list(machine.machine_type.metrics)
    page = ReadingsPage([], metrics, start, end, zone)
    for ts, source, values in rows:
        page.rows.append((ts, source, [show_value(m, values.get(m.key)) if m.key in values
                                       else None for m in metrics]))
    if rows:
        newest, oldest = rows[0].ts, rows[-1].ts
        if _exists(where, Reading.ts > newest):
            page.newer, page.is_newest = _cursor(newest), False
        if _exists(where, Reading.ts < oldest):
            page.older = _cursor(oldest)
    return page


def _exists(*conditions):
    return db.session.execute(select(select(Reading.ts).where(*conditions).exists())).scalar()


# --- CSV ---------------------------------------------------------------------------------

def csv_filename(machine, start, end):
    def part(value):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%MZ") if value else None
    span = "-to-".join(p for p in (part(start) or "start", part(end) or "now"))
    return f"{machine.code}-readings-{span}.csv"


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run a machine's text as a formula
    return value


def csv_rows(machine, start=None, end=None):
    """The CSV as text pieces, oldest first, read through a server-side cursor."""
    keys = [m.key for m in machine.machine_type.metrics]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["ts", "received_at", "source", *keys])
    result = db.session.execute(
        select(Reading.ts, Reading.received_at, Reading.source, Reading.values)
        .where(_in_range(machine, start, end)).order_by(Reading.ts)
        .execution_options(stream_results=True, yield_per=CSV_CHUNK))
    for count, (ts, received_at, source, values) in enumerate(result, 1):
        writer.writerow([as_utc(ts).astimezone(UTC).isoformat(),
                         as_utc(received_at).astimezone(UTC).isoformat(), source,
                         *(_csv_cell(values.get(k)) for k in keys)])
        if count % CSV_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
