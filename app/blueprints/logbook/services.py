"""Logbook operations: report, move along, assign, remedy, edit. Each flushes and logs.

Services hold the rules (roles, machine visibility, status workflow, downtime) and raise
ValidationFailed for bad input or Forbidden for a user who may not act; views commit once.
"""

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from sqlalchemy import select

from app.blueprints.auth.models import User
from app.blueprints.machines import services as machine_services
from app.blueprints.production import services as production
from app.blueprints.production.models import Downtime
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import utcnow
from app.core.workflow import check_transition, next_statuses

from .access import REPORTERS, can_see_issue, can_work_on
from .ai_texts import request_issue_texts
from .models import CATEGORIES, PRIORITIES, STATUSES, TRANSITIONS, Issue, IssueEvent, Remedy

DOWNTIME_SOURCE = "issue"
SOURCES = ("manual", "quick", "alert", "task", "andon", "api")
TITLE_MAX = 200
ALARM_MAX = 32
DESCRIPTION_MAX = 10_000
MAX_MINUTES = 7 * 24 * 60       # a week of work on one remedy is already a lot
MAX_PARTS = 50
STATUS_LABELS = dict(STATUSES)
CATEGORY_LABELS = dict(CATEGORIES)
PRIORITY_LABELS = dict(PRIORITIES)


# --- small helpers ---------------------------------------------------------------------

def log_event(issue, actor, kind, detail=""):
    event = IssueEvent(issue=issue, actor=actor, kind=kind, detail=detail, at=utcnow())
    db.session.add(event)
    return event


def _require_category(category):
    if category not in CATEGORY_LABELS:
        raise ValidationFailed({"category": "Choose one of the categories: "
                                + ", ".join(CATEGORY_LABELS.values()) + "."})
    return category


def _require_priority(priority):
    if priority not in PRIORITY_LABELS:
        raise ValidationFailed({"priority": "Choose a priority: "
                                + ", ".join(PRIORITY_LABELS.values()) + "."})
    return priority


def _clean_description(description):
    text = (description or "").strip()
    if not text:
        raise ValidationFailed({"description": "Describe the problem: what happened, what "
                                               "you saw or heard."})
    if len(text) > DESCRIPTION_MAX:
        raise ValidationFailed({"description": f"Keep it under {DESCRIPTION_MAX:,} "
                                               "characters."})
    return text


def _clean_alarm_code(alarm_code):
    code = " ".join((alarm_code or "").split()).upper()
    if len(code) > ALARM_MAX:
        raise ValidationFailed({"alarm_code": f"An alarm code has at most {ALARM_MAX} "
                                              "characters."})
    return code or None


def _clean_title(title):
    title = " ".join((title or "").split())
    if len(title) > TITLE_MAX:
        raise ValidationFailed({"title": f"Keep the title under {TITLE_MAX} characters."})
    return title or None


def default_title(category, description, alarm_code=None):
    """A short title until someone (or the AI job) writes a better one."""
    label = CATEGORY_LABELS.get(category, "Issue")
    first_line = (description or "").strip().splitlines()[0] if description else ""
    words = first_line.split()
    snippet = " ".join(words[:8])
    if len(words) > 8 or len(snippet) > 80:
        snippet = snippet[:80].rstrip(" ,.;:") + "…"
    head = f"{label} {alarm_code}" if alarm_code else label
    return f"{head}: {snippet}" if snippet else head


def _open_issue_downtime(issue):
    return production.open_downtime(issue.machine, DOWNTIME_SOURCE, reason=issue.title,
                                    issue=issue)


def _close_issue_downtime(issue):
    return production.close_downtime(issue.machine, DOWNTIME_SOURCE, issue=issue)


def downtimes_of(issue):
    return db.session.scalars(select(Downtime).where(Downtime.issue_id == issue.id)
                              .order_by(Downtime.started_at)).all()


# --- reporting -------------------------------------------------------------------------

def report_issue(user, machine, category, description, title=None, priority="medium",
                 runnable=True, alarm_code=None, source="manual", source_ref=None):
    """A new open issue on `machine`; a machine that cannot run starts a downtime."""
    if user.role not in REPORTERS:
        raise Forbidden("Viewers read the logbook; they do not report issues.")
    if machine is None or not machine_services.can_see_machine(user, machine):
        raise Forbidden("You may only report issues on your own machines.")
    category = _require_category(category)
    priority = _require_priority(priority or "medium")
    description = _clean_description(description)
    alarm_code = _clean_alarm_code(alarm_code)
    title = _clean_title(title) or default_title(category, description, alarm_code)
    if source not in SOURCES:
        raise ValidationFailed({"": f"Unknown source '{source}'."})
    issue = Issue(machine=machine, category=category, description=description, title=title,
                  priority=priority, status="open", runnable=bool(runnable),
                  alarm_code=alarm_code, reported_by=user, source=source,
                  source_ref=(source_ref or None))
    db.session.add(issue)
    db.session.flush()
    log_event(issue, user, "reported",
              f"Reported as {CATEGORY_LABELS[category]}, priority {PRIORITY_LABELS[priority]}"
              + ("" if runnable else "; machine cannot run"))
    if not runnable:
        _open_issue_downtime(issue)
        log_event(issue, user, "downtime", "Downtime started: the machine cannot run.")
    db.session.flush()
    request_issue_texts(issue)
    return issue


# --- workflow --------------------------------------------------------------------------

def allowed_statuses(issue):
    """The statuses an issue may move to next, in the workflow's order."""
    return next_statuses(STATUSES, TRANSITIONS, issue.status)


def _require_worker(user, issue, what):
    if not can_see_issue(user, issue) or not can_work_on(user, issue):
        raise Forbidden(f"Only maintenance, engineers, quality, managers or the assignee "
                        f"may {what}.")


def change_status(user, issue, status, note=""):
    _require_worker(user, issue, "change an issue's status")
    check_transition("issue", STATUSES, TRANSITIONS, issue.status, status)
    current = issue.status
    note = (note or "").strip()[:2000]
    now = utcnow()
    issue.status = status
    if status == "resolved":
        issue.resolved_at = now
        issue.closed_at = None
    elif status == "closed":
        issue.closed_at = now
        issue.resolved_at = issue.resolved_at or now
    else:
        # Reopened or still being worked on: it is neither resolved nor closed any more.
        issue.resolved_at = None
        issue.closed_at = None
    detail = f"{STATUS_LABELS[current]} → {STATUS_LABELS[status]}"
    log_event(issue, user, "status", detail + (f": {note}" if note else ""))
    if status in ("resolved", "closed"):
        if _close_issue_downtime(issue) is not None:
            log_event(issue, user, "downtime", "Downtime ended: the issue is "
                                               f"{STATUS_LABELS[status].lower()}.")
        if not issue.runnable:
            issue.runnable = True
            log_event(issue, user, "runnable", "Machine can run again.")
    db.session.flush()
    return issue


def can_set_runnable(user, issue):
    """The reporter knows when the machine stops; so do the people working on it."""
    return can_see_issue(user, issue) and (
        can_work_on(user, issue)
        or (issue.reported_by_id == user.id and user.role in REPORTERS))


def set_runnable(user, issue, runnable):
    """Say whether the machine can run; starts or ends the issue's downtime."""
    if not can_set_runnable(user, issue):
        raise Forbidden("Only the reporter, the assignee or maintenance may change this.")
    runnable = bool(runnable)
    if runnable == issue.runnable:
        raise ValidationFailed({"runnable": "The machine is already marked as "
                                            + ("running." if runnable else "stopped.")})
    if not runnable and not issue.is_open:
        raise ValidationFailed({"runnable": "Reopen the issue before marking the machine "
                                            "as stopped by it."})
    issue.runnable = runnable
    if runnable:
        _close_issue_downtime(issue)
        log_event(issue, user, "runnable", "Machine can run again; downtime ended.")
    else:
        _open_issue_downtime(issue)
        log_event(issue, user, "runnable", "Machine cannot run; downtime started.")
    db.session.flush()
    return issue


def assignable_users(issue):
    """People who could take the issue on: workers, and operators of its machine."""
    people = db.session.scalars(select(User).where(
        User.active.is_(True), User.role.in_(REPORTERS)).order_by(User.full_name,
                                                                 User.username)).all()
    return [u for u in people if machine_services.can_see_machine(u, issue.machine)]


def assign(user, issue, assignee):
    """Give the issue to `assignee` (None: nobody)."""
    _require_worker(user, issue, "assign issues")
    if assignee is not None:
        if not assignee.active or assignee.role not in REPORTERS:
            raise ValidationFailed({"assignee": f"{assignee.display_name} cannot take on "
                                                "issues."})
        if not machine_services.can_see_machine(assignee, issue.machine):
            raise ValidationFailed({"assignee": f"{assignee.display_name} does not work on "
                                                f"{issue.machine.code}."})
    if (assignee.id if assignee else None) == issue.assigned_to_id:
        raise ValidationFailed({"assignee": "It is already assigned to "
                                + (assignee.display_name if assignee else "nobody") + "."})
    before = issue.assigned_to
    issue.assigned_to = assignee
    issue.assigned_to_id = assignee.id if assignee else None
    if assignee is None:
        detail = f"Unassigned (was {before.display_name})" if before else "Unassigned"
    else:
        detail = f"Assigned to {assignee.display_name}"
        if before is not None:
            detail += f" (was {before.display_name})"
    log_event(issue, user, "assigned", detail)
    db.session.flush()
    return issue


# --- remedies --------------------------------------------------------------------------

def _number(value, field, label, integer=False):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise ValidationFailed({field: f"{label} must be a number."}) from None
    if not number.is_finite():
        raise ValidationFailed({field: f"{label} must be a number."})
    if integer and number != number.to_integral_value():
        raise ValidationFailed({field: f"{label} must be a whole number."})
    return number


def clean_parts(parts):
    """Parts as stored: name, quantity, unit cost; rows with no name and no numbers skipped."""
    cleaned = []
    for part in parts or []:
        name = " ".join(str(part.get("name") or "").split())
        quantity = _number(part.get("quantity"), "parts", "Quantity")
        unit_cost = _number(part.get("unit_cost"), "parts", "Unit cost")
        if not name and quantity is None and unit_cost is None:
            continue
        if not name:
            raise ValidationFailed({"parts": "Give each part a name."})
        if len(name) > 120:
            raise ValidationFailed({"parts": "Part names have at most 120 characters."})
        quantity = Decimal(1) if quantity is None else quantity
        unit_cost = Decimal(0) if unit_cost is None else unit_cost
        if quantity <= 0 or quantity > 100_000:
            raise ValidationFailed({"parts": f"Quantity of {name} must be more than 0."})
        if unit_cost < 0 or unit_cost > 10_000_000:
            raise ValidationFailed({"parts": f"Unit cost of {name} cannot be negative."})
        cleaned.append({"name": name, "quantity": float(quantity),
                        "unit_cost": float(unit_cost.quantize(Decimal("0.01"),
                                                              ROUND_HALF_UP))})
    if len(cleaned) > MAX_PARTS:
        raise ValidationFailed({"parts": f"At most {MAX_PARTS} parts per remedy."})
    return cleaned


def parts_cost(parts):
    total = sum((Decimal(str(p["quantity"])) * Decimal(str(p["unit_cost"])) for p in parts),
                Decimal(0))
    return total.quantize(Decimal("0.01"), ROUND_HALF_UP)


def add_remedy(user, issue, description, minutes_spent, parts=(), performed_at=None):
    """Record what was done; parts cost is worked out from the parts."""
    _require_worker(user, issue, "add remedies")
    text = (description or "").strip()
    if not text:
        raise ValidationFailed({"description": "Say what was done."})
    if len(text) > DESCRIPTION_MAX:
        raise ValidationFailed({"description": f"Keep it under {DESCRIPTION_MAX:,} "
                                               "characters."})
    minutes = _number(minutes_spent, "minutes_spent", "Minutes spent", integer=True)
    minutes = 0 if minutes is None else int(minutes)
    if minutes < 0 or minutes > MAX_MINUTES:
        raise ValidationFailed({"minutes_spent": "Minutes spent must be between 0 and "
                                                 f"{MAX_MINUTES:,}."})
    now = utcnow()
    if performed_at is not None:
        if performed_at.tzinfo is None:
            raise ValidationFailed({"performed_at": "Give the time with its time zone."})
        if performed_at > now + timedelta(minutes=5):
            raise ValidationFailed({"performed_at": "That time is in the future."})
        if performed_at < issue.created_at - timedelta(days=1):
            raise ValidationFailed({"performed_at": "That is before the issue was reported."})
    cleaned = clean_parts(parts)
    remedy = Remedy(issue=issue, description=text, performed_by=user,
                    performed_at=performed_at or now, minutes_spent=minutes, parts=cleaned,
                    parts_cost=parts_cost(cleaned))
    db.session.add(remedy)
    db.session.flush()
    detail = f"Remedy added ({minutes} min"
    if cleaned:
        detail += f", {len(cleaned)} part{'s' if len(cleaned) != 1 else ''}, " \
                  f"cost {remedy.parts_cost}"
    log_event(issue, user, "remedy", detail + ")")
    db.session.flush()
    request_issue_texts(issue)
    return remedy


# --- editing ---------------------------------------------------------------------------

def can_edit(user, issue):
    return can_see_issue(user, issue) and (
        can_work_on(user, issue)
        or (issue.reported_by_id == user.id and user.role in REPORTERS))


def update_issue(user, issue, title=None, description=None, category=None, priority=None,
                 alarm_code=None):
    """Change what the issue says; the reporter may correct it, workers too."""
    if not can_edit(user, issue):
        raise Forbidden("Only the reporter, the assignee or maintenance may edit the issue.")
    changes = {}
    if category is not None:
        changes["category"] = _require_category(category)
    if priority is not None:
        changes["priority"] = _require_priority(priority)
    if description is not None:
        changes["description"] = _clean_description(description)
    if alarm_code is not None:
        changes["alarm_code"] = _clean_alarm_code(alarm_code)
    if title is not None:
        changes["title"] = _clean_title(title) or default_title(
            changes.get("category", issue.category),
            changes.get("description", issue.description),
            changes.get("alarm_code", issue.alarm_code))
    names = {"category": "category", "priority": "priority", "description": "description",
             "alarm_code": "alarm code", "title": "title"}
    changed = []
    for field, value in changes.items():
        if getattr(issue, field) != value:
            old = getattr(issue, field)
            setattr(issue, field, value)
            if field in ("category", "priority"):
                labels = CATEGORY_LABELS if field == "category" else PRIORITY_LABELS
                changed.append(f"{names[field]} {labels.get(old, old)} → {labels[value]}")
            elif field == "alarm_code":
                changed.append(f"alarm code {old or '—'} → {value or '—'}")
            else:
                changed.append(names[field])
    if changed:
        log_event(issue, user, "edited", "Changed " + "; ".join(changed))
        db.session.flush()
    return changed
