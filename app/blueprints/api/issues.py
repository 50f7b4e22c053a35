"""Logbook issues over the API: the logbook page's filters, report, edit, the status
workflow, remedies, and photos/videos with the pages' upload checks.

Every rule is logbook.services' (and logbook.attachments'); an operator sees only the
issues of its machines, a viewer reads and reports nothing.
"""

import marshmallow as ma
from flask import g, url_for
from flask_smorest.fields import Upload
from marshmallow import validate

from app.blueprints.logbook import attachments, search, services
from app.blueprints.logbook.access import REPORTERS, can_see_issue
from app.blueprints.logbook.models import CATEGORIES, PRIORITIES, STATUSES, Attachment, Issue
from app.blueprints.machines.models import Machine
from app.core import uploads
from app.core.errors import ValidationFailed
from app.core.extensions import db

from . import bp
from .rows import changed, created, get_visible
from .schemas import (
    HistoryEventSchema,
    Id,
    MachineRefSchema,
    PageQuery,
    PersonSchema,
    Text,
    page_schema,
    paginated,
    sort_field,
    sorted_by,
)
from .tokens import token_required

STATUS_CODES = [code for code, _ in STATUSES]
CATEGORY_CODES = [code for code, _ in CATEGORIES]
PRIORITY_CODES = [code for code, _ in PRIORITIES]
SORTS = {**search.SORTS, "id": Issue.id}


class IssueSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    machine = ma.fields.Nested(MachineRefSchema, required=True)
    category = ma.fields.String(required=True, metadata={"enum": CATEGORY_CODES})
    title = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    alarm_code = ma.fields.String(required=True, allow_none=True)
    priority = ma.fields.String(required=True, metadata={"enum": PRIORITY_CODES})
    status = ma.fields.String(required=True, metadata={"enum": STATUS_CODES})
    runnable = ma.fields.Boolean(required=True, metadata={
        "description": "Whether the machine can still run; false keeps a downtime open."})
    reported_by = ma.fields.Nested(PersonSchema, required=True)
    assigned_to = ma.fields.Nested(PersonSchema, required=True, allow_none=True)
    source = ma.fields.String(required=True)
    next_statuses = ma.fields.Method("_next", required=True, metadata={
        "type": "array", "items": {"type": "string"}})
    resolved_at = ma.fields.DateTime(required=True, allow_none=True)
    closed_at = ma.fields.DateTime(required=True, allow_none=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)

    def _next(self, issue):
        return list(services.allowed_statuses(issue))


class PartSchema(ma.Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    quantity = ma.fields.Float(load_default=1, validate=validate.Range(0, 100_000,
                                                                       min_inclusive=False))
    unit_cost = ma.fields.Float(load_default=0, validate=validate.Range(0, 10_000_000))


class RemedySchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    description = ma.fields.String(required=True)
    performed_by = ma.fields.Nested(PersonSchema, required=True)
    performed_at = ma.fields.DateTime(required=True)
    minutes_spent = ma.fields.Integer(required=True)
    parts = ma.fields.List(ma.fields.Nested(PartSchema), required=True)
    parts_cost = ma.fields.Decimal(required=True, as_string=True, metadata={
        "type": "string", "description": "Money, two decimals, as text."})


class AttachmentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": ["image", "video"]})
    content_type = ma.fields.String(required=True)
    original_name = ma.fields.String(required=True)
    size = ma.fields.Integer(required=True)
    remedy_id = ma.fields.Integer(required=True, allow_none=True)
    uploaded_by = ma.fields.Nested(PersonSchema, required=True)
    created_at = ma.fields.DateTime(required=True)
    alarm_codes = ma.fields.List(ma.fields.String(), required=True)
    url = ma.fields.Function(lambda a: url_for("api.get_attachment", attachment_id=a.id),
                             required=True, metadata={"type": "string"})


class IssueDetailSchema(IssueSchema):
    remedies = ma.fields.List(ma.fields.Nested(RemedySchema), required=True)
    attachments = ma.fields.List(ma.fields.Nested(AttachmentSchema), required=True)
    events = ma.fields.List(ma.fields.Nested(HistoryEventSchema), required=True,
                            metadata={"description": "The issue's history, oldest first."})


class IssueQuery(PageQuery):
    q = Text(validate=validate.Length(max=200), metadata={
        "description": "Full-text search in titles, descriptions, alarm codes and remedies."})
    status = ma.fields.String(validate=validate.OneOf(
        [*STATUS_CODES, *search.STATUS_GROUPS]), metadata={
        "description": "A status, or `unresolved` / `done`."})
    machine = Id(metadata={"description": "Machine id."})
    line = Id(metadata={"description": "Line id."})
    department = Id(metadata={"description": "Department id."})
    category = ma.fields.String(validate=validate.OneOf(CATEGORY_CODES))
    runnable = ma.fields.Boolean()
    assignee = Text(validate=validate.Regexp(r"^(me|none|[1-9][0-9]{0,9})$"), metadata={
        "description": "`me`, `none` or a user id."})
    from_ = ma.fields.Date(data_key="from", metadata={"description": "Reported on or after."})
    to = ma.fields.Date(metadata={"description": "Reported on or before."})
    sort = sort_field(SORTS, "-reported")


class IssueInput(ma.Schema):
    machine_id = Id(required=True)
    category = ma.fields.String(required=True, validate=validate.OneOf(CATEGORY_CODES))
    description = Text(required=True, validate=validate.Length(max=services.DESCRIPTION_MAX))
    title = Text(validate=validate.Length(max=services.TITLE_MAX), metadata={
        "description": "Default: made from the category, alarm code and description."})
    priority = ma.fields.String(validate=validate.OneOf(PRIORITY_CODES))
    runnable = ma.fields.Boolean(metadata={"description": "Default true."})
    alarm_code = Text(allow_none=True, validate=validate.Length(max=services.ALARM_MAX))


class IssueChanges(ma.Schema):
    """The fields to change (PATCH), as the edit page; the others keep their values."""

    category = ma.fields.String(validate=validate.OneOf(CATEGORY_CODES))
    description = Text(validate=validate.Length(max=services.DESCRIPTION_MAX))
    title = Text(validate=validate.Length(max=services.TITLE_MAX))
    priority = ma.fields.String(validate=validate.OneOf(PRIORITY_CODES))
    alarm_code = Text(validate=validate.Length(max=services.ALARM_MAX))
    runnable = ma.fields.Boolean()


class IssueStatusInput(ma.Schema):
    status = ma.fields.String(required=True, validate=validate.OneOf(STATUS_CODES))
    note = Text(validate=validate.Length(max=2000))


class RemedyInput(ma.Schema):
    description = Text(required=True, validate=validate.Length(max=services.DESCRIPTION_MAX))
    minutes_spent = ma.fields.Integer(load_default=0, validate=validate.Range(
        0, services.MAX_MINUTES))
    parts = ma.fields.List(ma.fields.Nested(PartSchema), load_default=list)
    performed_at = ma.fields.AwareDateTime()


class UploadInput(ma.Schema):
    photo = Upload(required=True, metadata={"description": "One photo (JPEG, PNG, GIF) or "
                                                           "video (MP4, MOV, AVI)."})


def load_issue(issue_id):
    """The issue, 404 when there is none, 403 when its machine is not the user's."""
    return get_visible(Issue, issue_id, "issue", can_see_issue,
                       "This issue's machine is not one of yours.")


def _filters(args):
    return search.IssueFilters(
        q=" ".join(args.get("q", "").split()), status=args.get("status", ""),
        machine_id=args.get("machine"), line_id=args.get("line"),
        department_id=args.get("department"), category=args.get("category", ""),
        runnable={True: "yes", False: "no"}.get(args.get("runnable"), ""),
        date_from=args.get("from_"), date_to=args.get("to"),
        assignee=args.get("assignee", ""))


@bp.get("/issues", tags=["issues"])
@token_required()
@bp.arguments(IssueQuery, location="query")
@bp.response(200, page_schema(IssueSchema))
def list_issues(args):
    """Issues of the machines the user may see, filtered as the logbook page."""
    if args.get("from_") and args.get("to") and args["from_"] > args["to"]:
        raise ValidationFailed({"from": "The 'from' date is after the 'to' date."})
    stmt = search.with_list_details(search.search_issues(g.api_user, _filters(args)))
    return paginated(sorted_by(stmt, f"{args['sort']},-id", SORTS), args)


@bp.post("/issues", tags=["issues"])
@token_required(*REPORTERS)
@bp.etag
@bp.arguments(IssueInput)
@bp.response(201, IssueDetailSchema)
def report_issue(values):
    """Report an issue on one of your machines (everyone but viewers)."""
    machine = db.session.get(Machine, values["machine_id"])
    if machine is None:
        raise ValidationFailed({"machine_id": f"No machine with id {values['machine_id']}."})
    issue = services.report_issue(
        g.api_user, machine, values["category"], values["description"],
        title=values.get("title"), priority=values.get("priority", "medium"),
        runnable=values.get("runnable", True), alarm_code=values.get("alarm_code"),
        source="api")
    return created(issue, "api.get_issue", issue_id=issue.id)


@bp.get("/issues/<int:issue_id>", tags=["issues"])
@token_required()
@bp.etag
@bp.response(200, IssueDetailSchema)
def get_issue(issue_id):
    """One issue with its remedies, attachments and history; its ETag goes into If-Match."""
    return load_issue(issue_id)


@bp.patch("/issues/<int:issue_id>", tags=["issues"])
@token_required(*REPORTERS)
@bp.etag
@bp.arguments(IssueChanges)
@bp.response(200, IssueDetailSchema)
def update_issue(changes, issue_id):
    """Correct what the issue says, or whether the machine runs (reporter, workers)."""
    return changed(load_issue(issue_id), IssueDetailSchema,
                   lambda issue: _update_issue(issue, changes))


def _update_issue(issue, changes):
    runnable = changes.pop("runnable", issue.runnable)
    services.update_issue(g.api_user, issue, **changes)
    if runnable != issue.runnable:
        services.set_runnable(g.api_user, issue, runnable)


@bp.post("/issues/<int:issue_id>/status", tags=["issues"])
@token_required(*REPORTERS)
@bp.etag
@bp.arguments(IssueStatusInput)
@bp.response(200, IssueDetailSchema)
def change_issue_status(values, issue_id):
    """Move the issue along the workflow (workers and its assignee); a jump is 422."""
    issue = load_issue(issue_id)
    services.change_status(g.api_user, issue, values["status"], values.get("note", ""))
    db.session.commit()
    return issue


@bp.post("/issues/<int:issue_id>/remedies", tags=["issues"])
@token_required(*REPORTERS)
@bp.arguments(RemedyInput)
@bp.response(201, RemedySchema)
def add_issue_remedy(values, issue_id):
    """Record what was done, time spent and parts (workers and the assignee)."""
    issue = load_issue(issue_id)
    remedy = services.add_remedy(g.api_user, issue, values["description"],
                                 values["minutes_spent"], values["parts"],
                                 values.get("performed_at"))
    db.session.commit()
    return remedy


@bp.post("/issues/<int:issue_id>/attachments", tags=["issues"])
@token_required(*REPORTERS)
@bp.arguments(UploadInput, location="files")
@bp.response(201, AttachmentSchema)
def upload_issue_attachment(files, issue_id):
    """Add a photo or video (multipart field `photo`), checked as on the issue page."""
    issue = load_issue(issue_id)
    attachment = attachments.save_upload(issue, files["photo"], g.api_user)
    return created(attachment, "api.get_attachment", attachment_id=attachment.id)


@bp.get("/attachments/<int:attachment_id>", tags=["issues"])
@token_required()
@bp.doc(responses={"200": {"description": "The photo or video as uploaded.", "content": {
    kind: {"schema": {"type": "string", "format": "binary"}}
    for kind in ("image/*", "video/*")}}})
def get_attachment(attachment_id):
    """The file itself, for whoever may see its issue."""
    attachment = get_visible(Attachment, attachment_id, "attachment")
    load_issue(attachment.issue_id)
    return uploads.send_stored(attachment.stored_name, attachment.content_type,
                               attachment.original_name)
