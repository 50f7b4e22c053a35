"""The logbook metrics page, and the AI panel of an issue (try again, live refresh)."""

from datetime import timedelta
from urllib.parse import urlencode, urlsplit

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from app.blueprints.auth import roles
from app.blueprints.auth.access import roles_required
from app.core.extensions import db
from app.core.forms import save
from app.core.htmx import is_htmx, render_page
from app.core.models import utcnow
from app.integrations.ai import ai_configured
from app.realtime import live_renderer

from . import bp
from .access import WORKERS, can_see_issue, load_issue
from .ai_texts import request_issue_texts
from .metrics import DAY_PRESETS, DAYS_MAX, BadDays, column_chart, logbook_metrics, parse_days
from .models import Issue

# A job still "pending" after this long probably never reached the worker (Redis was down).
STALE_PENDING = timedelta(minutes=10)


# --- metrics -------------------------------------------------------------------------------

@bp.get("/metrics")
@roles_required(*roles.EVERYONE)
def metrics():
    raw = request.args.get("days")
    context = {"presets": DAY_PRESETS, "days_max": DAYS_MAX, "issues_url": issues_url}
    try:
        days = parse_days(raw)
    except BadDays as exc:
        return render_page("logbook/metrics.html", status=400, error=str(exc), days=None,
                           days_typed=raw, data=None, **context)
    data = logbook_metrics(current_user, days)
    return render_page("logbook/metrics.html", data=data, days=days, days_typed=str(days),
                       chart=column_chart(data["series"]), error=None, **context)


def issues_url(**params):
    """The issue list with these filters (the list keeps every filter in its URL)."""
    params = {k: v for k, v in params.items() if v not in (None, "")}
    try:
        return url_for("logbook.index", **params)
    except BuildError:
        return "/logbook/" + ("?" + urlencode(params) if params else "")


# --- the AI panel on an issue ----------------------------------------------------------------

def ai_context(issue, user):
    """What logbook/_ai.html is drawn from, on the issue page, after a retry and over /ws."""
    return {"issue": issue, "ai_action": ai_action(issue, user)}


def ai_action(issue, user):
    """The label of the panel's button for `user`, or None when there is nothing to offer."""
    if not user.is_authenticated or user.role not in WORKERS:
        return None
    status = issue.ai_status
    if status == "failed":
        return "Try again"
    if status is None:
        return "Write AI texts" if ai_configured() else None
    if status == "skipped":
        return "Try again" if ai_configured() else None
    if status == "pending":
        since = issue.ai_updated_at or issue.created_at
        return "Still waiting? Try again" if since and utcnow() - since > STALE_PENDING else None
    return "Write again" if ai_configured() else None


def _back_to():
    """Where the page came from (an issue page of ours), else the issue list."""
    for candidate in (request.form.get("next"), request.referrer):
        parts = urlsplit(candidate or "")
        if not parts.path or (parts.netloc and parts.netloc != request.host):
            continue
        if parts.path.startswith("/logbook/") and "\\" not in parts.path:
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return issues_url()


@bp.post("/issues/<int:issue_id>/ai")
@roles_required(*WORKERS)
def retry_ai(issue_id):
    issue = load_issue(issue_id)
    save(lambda: request_issue_texts(issue))
    if is_htmx():
        return render_page("logbook/_ai.html", **ai_context(issue, current_user))
    flash("The AI texts are being written again; they appear on the issue when ready.", "info")
    return redirect(_back_to(), code=303)


@live_renderer("issue.ai_updated")
def ai_panel(message, user, page):
    """The issue page (socket ?resync=issue:<id>) gets its AI panel swapped in place."""
    issue_id = message.get("id")
    if page != f"issue:{issue_id}":
        return None
    issue = db.session.get(Issue, issue_id)
    if issue is None or not can_see_issue(user, issue):
        return None
    return render_template("logbook/_ai.html", oob=True, **ai_context(issue, user))
