"""Logbook metrics over the last N days, counted in SQL and scoped to the user's machines.

The window is N calendar days (UTC) ending now: from midnight N-1 days ago until now, so
"30 days" is today and the 29 days before it, and today counts only its hours so far.

- Opened: issues reported in the window. Resolved: issues whose resolved_at is in the window
  and that are still resolved or closed (a reopened issue clears it).
- MTTR: mean of (resolved_at - created_at) over the issues resolved in the window.
- Downtime: the machine's downtime records (issues and andon stops alike) clipped to the
  window, overlapping records merged so an hour is never counted twice; a downtime still
  open counts up to now.
- Failures: issues reported in the window that stopped the machine: marked not runnable,
  or with a downtime record of their own.
- MTBF (per machine): (window hours - downtime hours) / failures; no failures, no MTBF.
- Repeat alarm codes: codes (case and spaces ignored) on two or more issues in the window.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Date, case, cast, desc, distinct, exists, func, literal, or_, select

from app.blueprints.auth import roles
from app.blueprints.machines.models import Machine
from app.blueprints.machines.services import visible_machines
from app.blueprints.production.models import Downtime
from app.core.extensions import db
from app.core.models import UTCDateTime, utcnow

from .models import CATEGORIES, STATUSES, Issue

DAYS_DEFAULT = 30
DAYS_MAX = 3650
DAY_PRESETS = (7, 30, 90, 365)
TOP_MACHINES = 10
DONE = ("resolved", "closed")


class BadDays(ValueError):
    pass


def parse_days(raw):
    """`?days=` as an int from 1 to 3650 (missing: 30); BadDays with a message otherwise."""
    if raw is None or not str(raw).strip():
        return DAYS_DEFAULT
    raw = str(raw).strip()
    if not raw.isdigit() or not 1 <= int(raw) <= DAYS_MAX:
        raise BadDays(f"Days must be a whole number from 1 to {DAYS_MAX}; "
                      f"“{raw[:20]}” is not.")
    return int(raw)


@dataclass
class Window:
    days: int
    start: object   # aware UTC datetime: midnight, days-1 days ago
    end: object     # now

    @property
    def hours(self):
        return (self.end - self.start).total_seconds() / 3600

    @property
    def first_day(self):
        return self.start.date()

    @property
    def last_day(self):
        return self.end.date()


def window_for(days, now=None):
    now = now or utcnow()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return Window(days, midnight - timedelta(days=days - 1), now)


# --- SQL that reads the same on PostgreSQL and SQLite ----------------------------------------

def _postgres():
    return db.session.get_bind().dialect.name == "postgresql"


def _at(value):
    return literal(value, UTCDateTime())


def _day(column):
    if _postgres():
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def _hours_between(start, end):
    if _postgres():
        return func.extract("epoch", end - start) / 3600.0
    return (func.julianday(end) - func.julianday(start)) * 24.0


def _greatest(a, b):
    return func.greatest(a, b) if _postgres() else func.max(a, b)


def _least(a, b):
    return func.least(a, b) if _postgres() else func.min(a, b)


def _as_date(value):
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


class Scope:
    """The window and the user's machines, applied to each query."""

    def __init__(self, user, window):
        self.window = window
        self.machine_ids = None
        if user.role in roles.MACHINE_BOUND:
            self.machine_ids = visible_machines(user).with_only_columns(Machine.id)

    def mine(self, stmt, column):
        return stmt if self.machine_ids is None else stmt.where(column.in_(self.machine_ids))

    def opened(self, stmt):
        w = self.window
        return self.mine(stmt.where(Issue.created_at >= _at(w.start),
                                    Issue.created_at <= _at(w.end)), Issue.machine_id)

    def resolved(self, stmt):
        w = self.window
        return self.mine(stmt.where(Issue.resolved_at >= _at(w.start),
                                    Issue.resolved_at <= _at(w.end),
                                    Issue.status.in_(DONE)), Issue.machine_id)


# --- the numbers ---------------------------------------------------------------------------

def _per_day(column, where):
    day = _day(column).label("day")
    rows = db.session.execute(where(select(day, func.count(Issue.id))).group_by(day)).all()
    return {_as_date(d): n for d, n in rows}


def _counts_by(scope, column):
    rows = db.session.execute(scope.opened(select(column, func.count(Issue.id)))
                              .group_by(column).order_by(desc(func.count(Issue.id)), column))
    return [(value, n) for value, n in rows]


def _issues_per_machine(scope):
    count = func.count(Issue.id)
    stmt = scope.opened(select(Issue.machine_id, count)).group_by(Issue.machine_id)
    return dict(db.session.execute(stmt).all())


def _failures_per_machine(scope):
    stopped = or_(Issue.runnable.is_(False),
                  exists().where(Downtime.issue_id == Issue.id))
    stmt = scope.opened(select(Issue.machine_id, func.count(Issue.id)).where(stopped)) \
        .group_by(Issue.machine_id)
    return dict(db.session.execute(stmt).all())


def _mttr(scope, by_machine=False):
    hours = func.avg(_hours_between(Issue.created_at, Issue.resolved_at))
    if by_machine:
        stmt = scope.resolved(select(Issue.machine_id, hours)).group_by(Issue.machine_id)
        return {m: float(h) for m, h in db.session.execute(stmt).all()}
    value, count = db.session.execute(scope.resolved(select(hours, func.count(Issue.id)))).one()
    return (float(value) if value is not None else None), count


def _downtime_hours(scope):
    """Hours per machine: records clipped to the window, overlaps merged (gaps and islands)."""
    w = scope.window
    start, end = _at(w.start), _at(w.end)
    until = func.coalesce(Downtime.ended_at, end)
    clipped = scope.mine(
        select(Downtime.machine_id.label("machine_id"),
               _greatest(Downtime.started_at, start).label("s"),
               _least(until, end).label("e"))
        .where(Downtime.started_at < end, until > start), Downtime.machine_id).subquery()
    order = (clipped.c.s, clipped.c.e)
    # A record starts a new stretch unless it begins before an earlier one has ended.
    earlier_end = func.max(clipped.c.e).over(partition_by=clipped.c.machine_id, order_by=order,
                                             rows=(None, -1))
    marked = select(clipped.c.machine_id, clipped.c.s, clipped.c.e,
                    case((clipped.c.s <= earlier_end, 0), else_=1).label("new")).subquery()
    stretch = func.sum(marked.c.new).over(partition_by=marked.c.machine_id,
                                          order_by=(marked.c.s, marked.c.e), rows=(None, 0))
    numbered = select(marked.c.machine_id, marked.c.s, marked.c.e,
                      stretch.label("stretch")).subquery()
    merged = select(numbered.c.machine_id, func.min(numbered.c.s).label("s"),
                    func.max(numbered.c.e).label("e")) \
        .group_by(numbered.c.machine_id, numbered.c.stretch).subquery()
    stmt = select(merged.c.machine_id, func.sum(_hours_between(merged.c.s, merged.c.e))) \
        .group_by(merged.c.machine_id)
    return {m: max(float(h or 0), 0.0) for m, h in db.session.execute(stmt).all()}


def _repeat_codes(scope):
    code = func.upper(func.trim(Issue.alarm_code))
    has_code = (Issue.alarm_code.is_not(None), func.trim(Issue.alarm_code) != "")
    count = func.count(Issue.id)
    stmt = scope.opened(select(code.label("code"), count, func.count(distinct(Issue.machine_id)))
                        .where(*has_code)).group_by(code).having(count >= 2) \
        .order_by(desc(count), code)
    repeats = [{"code": c, "count": n, "machine_count": m, "machines": []}
               for c, n, m in db.session.execute(stmt).all()]
    if repeats:
        by_code = {r["code"]: r for r in repeats}
        per_machine = scope.opened(
            select(code, Machine.id, Machine.code, count).join(Issue.machine)
            .where(*has_code, code.in_(list(by_code)))) \
            .group_by(code, Machine.id, Machine.code).order_by(code, desc(count), Machine.code)
        for c, machine_id, machine_code, n in db.session.execute(per_machine).all():
            by_code[c]["machines"].append({"id": machine_id, "code": machine_code, "count": n})
    return repeats


def _open_now(scope):
    stmt = scope.mine(select(func.count(Issue.id)).where(Issue.status.not_in(DONE)),
                      Issue.machine_id)
    return db.session.scalar(stmt)


def _machines(ids):
    if not ids:
        return {}
    return {m.id: m for m in db.session.scalars(select(Machine).where(Machine.id.in_(ids)))}


def logbook_metrics(user, days, now=None):
    """Every number on the metrics page for `user`'s machines over the last `days` days."""
    window = window_for(days, now)
    scope = Scope(user, window)
    opened_by_day = _per_day(Issue.created_at, scope.opened)
    resolved_by_day = _per_day(Issue.resolved_at, scope.resolved)
    issues = _issues_per_machine(scope)
    failures = _failures_per_machine(scope)
    downtime = _downtime_hours(scope)
    mttr_by_machine = _mttr(scope, by_machine=True)
    mttr, resolved_count = _mttr(scope)
    machines = _machines(set(issues) | set(failures) | set(downtime) | set(mttr_by_machine))

    rows = []
    for machine_id, machine in machines.items():
        down = downtime.get(machine_id, 0.0)
        fails = failures.get(machine_id, 0)
        rows.append({
            "machine": machine, "issues": issues.get(machine_id, 0), "failures": fails,
            "downtime_hours": down, "mttr_hours": mttr_by_machine.get(machine_id),
            "mtbf_hours": (max(window.hours - down, 0.0) / fails) if fails else None})
    rows.sort(key=lambda r: (-r["downtime_hours"], -r["issues"], r["machine"].code))
    top = sorted((r for r in rows if r["issues"]), key=lambda r: (-r["issues"],
                                                                   r["machine"].code))
    category_labels, status_labels = dict(CATEGORIES), dict(STATUSES)
    return {
        "window": window,
        "opened": sum(opened_by_day.values()),
        "resolved": sum(resolved_by_day.values()),
        "open_now": _open_now(scope),
        "series": day_series(window, opened_by_day, resolved_by_day),
        "by_category": [{"value": v, "label": category_labels.get(v, v), "count": n}
                        for v, n in _counts_by(scope, Issue.category)],
        "by_status": [{"value": v, "label": status_labels.get(v, v), "count": n}
                      for v, n in _counts_by(scope, Issue.status)],
        "top_machines": top[:TOP_MACHINES],
        "machines": rows,
        "downtime_rows": [r for r in rows if r["downtime_hours"] > 0],
        "downtime_hours": sum(downtime.values()),
        "failures": sum(failures.values()),
        "mttr_hours": mttr,
        "mttr_count": resolved_count,
        "repeat_codes": _repeat_codes(scope),
    }


# --- the opened/resolved chart ---------------------------------------------------------------

def bucket_days(days):
    """One bar per day up to three months, per week up to two years, then per 30 days."""
    return 1 if days <= 92 else 7 if days <= 730 else 30


def day_series(window, opened, resolved):
    """[{"start", "end", "opened", "resolved"}] over the window, in buckets of 1, 7 or 30 days."""
    size = bucket_days(window.days)
    buckets = []
    first, last = window.first_day, window.last_day
    day = first
    while day <= last:
        end = min(day + timedelta(days=size - 1), last)
        span = [day + timedelta(days=i) for i in range((end - day).days + 1)]
        buckets.append({"start": day, "end": end,
                        "opened": sum(opened.get(d, 0) for d in span),
                        "resolved": sum(resolved.get(d, 0) for d in span)})
        day = end + timedelta(days=1)
    return {"size": size, "buckets": buckets}


def nice_max(value):
    """A round top for a chart axis: 1, 2, 5, 10, 20, 50 …"""
    return next(m * 10 ** e for e in range(12) for m in (1, 2, 5) if m * 10 ** e >= value)


def column_chart(series, width=1000, height=200):
    """Geometry for the opened/resolved columns: SVG units for the bars, percentages for the
    HTML labels around them (so the text keeps its size at any width)."""
    buckets = series["buckets"]
    peak = max([max(b["opened"], b["resolved"]) for b in buckets] + [1])
    step = nice_max(peak / 4)
    top = -(-peak // step) * step
    slot = width / max(len(buckets), 1)
    bar = max(min(slot * 0.4, 28), 0.8)
    bars, labels = [], []
    every = max(1, round(len(buckets) / 8))
    for i, b in enumerate(buckets):
        x = i * slot + (slot - 2 * bar) / 2
        for j, key in enumerate(("opened", "resolved")):
            h = height * b[key] / top
            bars.append({"x": round(x + j * bar, 2), "y": round(height - h, 2),
                         "w": round(bar, 2), "h": round(h, 2), "kind": key, "count": b[key],
                         "bucket": b})
        if i % every == 0:
            labels.append({"left": round(100 * (i + 0.5) * slot / width, 2), "day": b["start"]})
    ticks = [{"value": v, "bottom": round(100 * v / top, 2), "y": round(height - height * v / top, 2)}
             for v in range(0, top + 1, step)]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "ticks": ticks}
