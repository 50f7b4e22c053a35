"""Photos and videos on an issue: upload, serve (only to people who may see the issue),
read the text again, delete with confirmation. The issue page includes
`logbook/_attachments.html`; these views return that partial to htmx and whole pages
(or redirects) without JavaScript.
"""

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    render_template_string,
    request,
    url_for,
)
from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.auth.access import roles_required
from app.core import uploads
from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.forms import ConfirmForm, save
from app.core.htmx import dom_id, is_htmx, render_page
from app.realtime import live_renderer

from . import attachments as services
from . import bp
from .access import REPORTERS, WORKERS, can_see_issue, load_issue
from .models import Attachment, Issue

PARTIAL = "logbook/_attachments.html"
# The partial on a page of its own: for browsers without JavaScript and direct links.
PAGE = """{% extends "base.html" %}
{% block title %}Photos and videos · issue #{{ issue.id }}{% endblock %}
{% block content %}
<p><a href="{{ issue_url }}">‹ Back to issue #{{ issue.id }}: {{ issue.title }}</a></p>
{% include "logbook/_attachments.html" %}
{% endblock %}"""


def issue_url(issue):
    return url_for("logbook.show", issue_id=issue.id)


def load_attachment(attachment_id):
    """The attachment, or 404; 403 when its issue is not one the user may see."""
    attachment = db.get_or_404(Attachment, attachment_id)
    load_issue(attachment.issue_id)
    return attachment


class AttachmentBox:
    """What the partial shows of an issue's attachments, and what this user may do."""

    def __init__(self, issue, user):
        self.issue = issue
        self.items = list(issue.attachments)
        self.count = len(self.items)
        self.max = current_app.config["UPLOAD_MAX_PER_ISSUE"]
        self.max_mb = f"{current_app.config['UPLOAD_MAX_BYTES'] / (1024 * 1024):g}"
        self.remaining = max(0, self.max - self.count)
        self.may_upload = user.role in REPORTERS and can_see_issue(user, issue)
        self.may_read_again = user.role in WORKERS
        self.accept = uploads.ACCEPT
        self.extensions = ", ".join(e.upper() for e in uploads.ALLOWED_EXTENSIONS)
        codes = []
        for attachment in self.items:
            for code in attachment.alarm_codes or []:
                if code not in codes:
                    codes.append(code)
        self.codes = codes
        self._user = user

    def may_delete(self, attachment):
        return services.can_delete(self._user, attachment)


def attachments_context(issue, user):
    """What logbook/_attachments.html is drawn from, on the issue page and here."""
    return {"issue": issue, "box": AttachmentBox(issue, user)}


def _section(issue, status=200, error=None):
    """The partial for htmx; the page of its own otherwise."""
    context = {**attachments_context(issue, current_user), "attachment_error": error,
               "issue_url": issue_url(issue)}
    if is_htmx():
        response = make_response(render_template(PARTIAL, **context), status)
    else:
        response = make_response(render_template_string(PAGE, **context), status)
    response.vary.add("HX-Request")
    return response


def _done(issue, message, category="success"):
    if is_htmx():
        return _section(issue)
    flash(message, category)
    return redirect(issue_url(issue) + "#" + dom_id(issue, "attachments"), 303)


# --- pages ----------------------------------------------------------------------------------

@bp.get("/issues/<int:issue_id>/attachments")
@roles_required(*roles.EVERYONE)
def attachments(issue_id):
    return _section(load_issue(issue_id))


@bp.post("/issues/<int:issue_id>/attachments")
@roles_required(*REPORTERS)
def upload_attachment(issue_id):
    issue = load_issue(issue_id)
    files = [f for f in request.files.getlist(uploads.FIELD) if f and f.filename]
    saved = save(lambda: _upload(issue, files))
    if not saved:  # the rollback also removed any file already stored for this request
        return _section(db.session.get(Issue, issue_id), 422,
                        error=saved.error.errors.get(uploads.FIELD) or str(saved.error))
    names = ", ".join(a.original_name for a in saved.value)
    reading = any(a.kind == "image" for a in saved.value)
    return _done(issue, f"Added {names}." + (" Reading the text on it…" if reading else ""))


def _upload(issue, files):
    if not files:
        raise ValidationFailed({uploads.FIELD: "Choose a photo or video to upload."})
    return [services.save_upload(issue, f, current_user) for f in files]


@bp.get("/attachments/<int:attachment_id>")
@roles_required(*roles.EVERYONE)
def attachment_file(attachment_id):
    attachment = load_attachment(attachment_id)
    return uploads.send_stored(attachment.stored_name, attachment.content_type, attachment.original_name)


@bp.get("/attachments/<int:attachment_id>/thumbnail")
@roles_required(*roles.EVERYONE)
def attachment_thumbnail(attachment_id):
    attachment = load_attachment(attachment_id)
    if not attachment.thumbnail_name:
        abort(404)
    stem = attachment.original_name.rsplit(".", 1)[0]
    return uploads.send_stored(attachment.thumbnail_name, "image/jpeg", f"{stem}-thumbnail.jpg")


@bp.post("/attachments/<int:attachment_id>/ocr")
@roles_required(*WORKERS)
def read_attachment_again(attachment_id):
    attachment = load_attachment(attachment_id)
    issue = attachment.issue
    saved = save(lambda: services.request_ocr(attachment))
    if not saved:
        return _section(issue, 422, error=str(saved.error))
    return _done(issue, f"Reading the text on {attachment.original_name} again…", "info")


@bp.route("/attachments/<int:attachment_id>/delete", methods=["GET", "POST"])
@roles_required(*REPORTERS)
def delete_attachment(attachment_id):
    """hx-confirm asks in the browser; without JavaScript this page asks."""
    attachment = load_attachment(attachment_id)
    issue = attachment.issue
    if not services.can_delete(current_user, attachment):
        abort(403)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = attachment.original_name
        save(lambda: services.delete_attachment(current_user, attachment))
        return _done(issue, f"Deleted {name}.")
    what = "photo" if attachment.kind == "image" else "video"
    return render_page("confirm.html", form=form, title=f"Delete this {what}?",
                       message=f"“{attachment.original_name}” is removed from issue "
                               f"#{issue.id} for everyone. This cannot be undone.",
                       action=url_for("logbook.delete_attachment", attachment_id=attachment.id),
                       cancel=issue_url(issue), button=f"Delete {what}", danger=True)


# --- live -----------------------------------------------------------------------------------

@live_renderer("attachment.read")
def ocr_result_fragment(message, user, page):
    """The photo's text and codes, swapped in where the issue page shows them.

    Pages that say what they show get it only for their issue (`?resync=issue:<id>`).
    """
    issue_id = message.get("issue_id")
    if page and page != f"issue:{issue_id}":
        return None
    attachment = db.session.get(Attachment, message.get("id"))
    if attachment is None or not can_see_issue(user, attachment.issue):
        return None
    return render_template(PARTIAL, live_attachment=attachment,
                           **attachments_context(attachment.issue, user))
