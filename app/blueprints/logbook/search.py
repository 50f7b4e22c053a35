"""Finding issues: filters from the URL, full-text search, sorting, and the CSV export.

On PostgreSQL the text search uses exactly the expressions of the GIN indexes made by the
migration (ix_issues_search, ix_remedies_search), so the planner can use them; on SQLite
every word must appear (LIKE) in the title, description, alarm code or a remedy.
"""

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Department, Line, Machine
from app.core.extensions import db

from .models import CATEGORIES, PRIORITIES, STATUSES, Issue, Remedy

# The indexed expressions, word for word as in the migration.
ISSUE_DOCUMENT = ("to_tsvector('english', coalesce(issues.title, '') || ' ' || "
                  "coalesce(issues.description, '') || ' ' || coalesce(issues.alarm_code, ''))")
REMEDY_DOCUMENT = "to_tsvector('english', coalesce(remedies.description, ''))"

PRIORITY_ORDER = {value: n for n, (value, _label) in enumerate(PRIORITIES)}
STATUS_ORDER = {value: n for n, (value, _label) in enumerate(STATUSES)}
SORTS = {
    "reported": Issue.created_at,
    "updated": Issue.updated_at,
    "machine": Machine.code,
    "title": func.lower(Issue.title),
    "category": Issue.category,
    "priority": case(PRIORITY_ORDER, value=Issue.priority, else_=99),
    "status": case(STATUS_ORDER, value=Issue.status, else_=99),
}
SORT_LABELS = {"reported": "Reported", "machine": "Machine", "title": "Title",
               "category": "Category", "priority": "Priority", "status": "Status",
               "updated": "Updated"}
# What the status filter offers besides single statuses.
STATUS_GROUPS = {"unresolved": ("open", "in_progress", "on_hold"),
                 "done": ("resolved", "closed")}


@dataclass
class IssueFilters:
    q: str = ""
    status: str = ""
    machine_id: int | None = None
    line_id: int | None = None
    department_id: int | None = None
    category: str = ""
    runnable: str = ""          # "yes" / "no" / ""
    date_from: date | None = None
    date_to: date | None = None
    assignee: str = ""          # a user id, "me", "none" or ""
    sort: str = "reported"
    direction: str = "desc"
    errors: list = field(default_factory=list)

    @property
    def active(self):
        return bool(self.q or self.status or self.machine_id or self.line_id
                    or self.department_id or self.category or self.runnable
                    or self.date_from or self.date_to or self.assignee)


def _int(args, name):
    value = (args.get(name) or "").strip()
    return int(value) if value.isdigit() else None


def _date(args, name, label, errors):
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(f"{label}: use a date like 2026-03-31.")
        return None


def parse_filters(args):
    """IssueFilters from request.args; unknown values are dropped, bad dates reported."""
    errors = []
    status = args.get("status", "")
    if status not in dict(STATUSES) and status not in STATUS_GROUPS:
        status = ""
    category = args.get("category", "")
    if category not in dict(CATEGORIES):
        category = ""
    runnable = args.get("runnable", "")
    if runnable not in ("yes", "no"):
        runnable = ""
    assignee = (args.get("assignee") or "").strip()
    if assignee not in ("me", "none") and not assignee.isdigit():
        assignee = ""
    sort = args.get("sort", "reported")
    if sort not in SORTS:
        sort = "reported"
    direction = "asc" if args.get("dir") == "asc" else "desc"
    filters = IssueFilters(
        q=" ".join((args.get("q") or "").split())[:200], status=status,
        machine_id=_int(args, "machine"), line_id=_int(args, "line"),
        department_id=_int(args, "department"), category=category, runnable=runnable,
        date_from=_date(args, "from", "From", errors), date_to=_date(args, "to", "To", errors),
        assignee=assignee, sort=sort, direction=direction, errors=errors)
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        errors.append("The 'from' date is after the 'to' date.")
    return filters


def _is_postgres():
    return db.engine.dialect.name == "postgresql"


def _text_condition(q):
    if _is_postgres():
        # One id list from both indexes (a UNION lets each use its own GIN index; an OR
        # of the two conditions would read every issue).
        query = func.websearch_to_tsquery(literal_column("'english'"), q)
        in_issues = select(Issue.id).where(
            literal_column(ISSUE_DOCUMENT).op("@@")(query)).correlate(None)
        in_remedies = select(Remedy.issue_id).where(
            literal_column(REMEDY_DOCUMENT).op("@@")(query)).correlate(None)
        return Issue.id.in_(in_issues.union(in_remedies))
    conditions = []
    for word in q.lower().split():
        like = f"%{word.replace('%', '').replace('_', '')}%"
        conditions.append(or_(
            func.lower(Issue.title).like(like), func.lower(Issue.description).like(like),
            func.lower(func.coalesce(Issue.alarm_code, "")).like(like),
            Issue.id.in_(select(Remedy.issue_id).where(
                func.lower(Remedy.description).like(like)))))
    return and_(*conditions)


def _day_start(day):
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def search_issues(user, filters):
    """A select of the issues `user` may see that match `filters`, sorted."""
    stmt = select(Issue).join(Issue.machine)
    if user.role in roles.MACHINE_BOUND:
        visible_ids = machine_services.visible_machines(user).with_only_columns(Machine.id)
        stmt = stmt.where(Issue.machine_id.in_(visible_ids))
    if filters.q:
        stmt = stmt.where(_text_condition(filters.q))
    if filters.status in STATUS_GROUPS:
        stmt = stmt.where(Issue.status.in_(STATUS_GROUPS[filters.status]))
    elif filters.status:
        stmt = stmt.where(Issue.status == filters.status)
    if filters.machine_id:
        stmt = stmt.where(Issue.machine_id == filters.machine_id)
    if filters.line_id:
        stmt = stmt.where(Machine.line_id == filters.line_id)
    if filters.department_id:
        stmt = stmt.where(Machine.department_id == filters.department_id)
    if filters.category:
        stmt = stmt.where(Issue.category == filters.category)
    if filters.runnable:
        stmt = stmt.where(Issue.runnable.is_(filters.runnable == "yes"))
    if filters.date_from:
        stmt = stmt.where(Issue.created_at >= _day_start(filters.date_from))
    if filters.date_to:
        stmt = stmt.where(Issue.created_at < _day_start(filters.date_to) + timedelta(days=1))
    if filters.assignee == "me":
        stmt = stmt.where(Issue.assigned_to_id == user.id)
    elif filters.assignee == "none":
        stmt = stmt.where(Issue.assigned_to_id.is_(None))
    elif filters.assignee:
        stmt = stmt.where(Issue.assigned_to_id == int(filters.assignee))
    column = SORTS[filters.sort]
    ordered = column.asc() if filters.direction == "asc" else column.desc()
    return stmt.order_by(ordered, Issue.id.desc() if filters.direction == "desc"
                         else Issue.id.asc())


def with_list_details(stmt):
    return stmt.options(selectinload(Issue.machine).selectinload(Machine.line),
                        selectinload(Issue.assigned_to), selectinload(Issue.reported_by))


def filter_choices(user):
    """Machines, lines, departments and people for the filter bar, as `user` may see them."""
    machines = db.session.scalars(machine_services.visible_machines(user)
                                  .order_by(Machine.code)).all()
    if user.role in roles.MACHINE_BOUND:
        lines = sorted({m.line for m in machines} - {None}, key=lambda x: x.name)
        departments = sorted({m.department for m in machines} - {None}, key=lambda x: x.name)
    else:
        lines = db.session.scalars(select(Line).order_by(Line.name)).all()
        departments = db.session.scalars(select(Department).order_by(Department.name)).all()
    assigned_ids = select(Issue.assigned_to_id).where(Issue.assigned_to_id.is_not(None))
    people = db.session.scalars(select(User).where(User.id.in_(assigned_ids))
                                .order_by(User.full_name, User.username)).all()
    return {"machines": machines, "lines": lines, "departments": departments,
            "people": people}


# --- CSV -------------------------------------------------------------------------------

CSV_CHUNK = 200
CSV_HEADER = ["id", "reported_at", "machine", "machine_name", "line", "department",
              "category", "priority", "status", "runnable", "alarm_code", "title",
              "description", "reported_by", "assigned_to", "resolved_at", "closed_at",
              "remedies", "minutes_spent", "parts_cost", "source"]


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds")
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value  # a spreadsheet must not run someone's text as a formula
    return value


def csv_rows(stmt):
    """The CSV of the issues `stmt` selects, as text pieces, read in chunks."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    stmt = stmt.options(
        selectinload(Issue.machine).selectinload(Machine.line),
        selectinload(Issue.machine).selectinload(Machine.department),
        selectinload(Issue.reported_by), selectinload(Issue.assigned_to),
        selectinload(Issue.remedies)).execution_options(yield_per=CSV_CHUNK)
    for count, issue in enumerate(db.session.scalars(stmt), 1):
        machine = issue.machine
        writer.writerow([_cell(v) for v in (
            issue.id, issue.created_at, machine.code, machine.name,
            machine.line.name if machine.line else None,
            machine.department.name if machine.department else None,
            issue.category_label, issue.priority_label, issue.status_label, issue.runnable,
            issue.alarm_code, issue.title, issue.description,
            issue.reported_by.username if issue.reported_by else None,
            issue.assigned_to.username if issue.assigned_to else None,
            issue.resolved_at, issue.closed_at, len(issue.remedies),
            sum(r.minutes_spent for r in issue.remedies),
            f"{sum((r.parts_cost for r in issue.remedies), 0):.2f}", issue.source)])
        if count % CSV_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
