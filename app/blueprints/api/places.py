"""Departments and lines (lines also as /production/lines, the floor-dashboard seed's
name): the registry's places, through machines.services as the setup pages.

Everyone but operators reads them, as the pages (an operator's places are those of its
machines, on GET /machines); managers add, change and delete. A department or line still
holding machines (or a line operators are assigned to) is not deleted: 409 says what.
"""

import marshmallow as ma
from marshmallow import validate
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.blueprints.machines import services
from app.blueprints.machines.models import Department, Line
from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.models import contains_text

from . import bp
from .machines import LineRefSchema, existing
from .rows import changed, created, get_visible
from .schemas import Id, PageQuery, RefSchema, Text, page_schema, paginated, sort_field, sorted_by
from .tokens import token_required

READERS = roles.PLANT_WIDE
DEPARTMENT_SORTS = {"id": Department.id, "code": Department.code, "name": Department.name,
                    "created_at": Department.created_at, "updated_at": Department.updated_at}
LINE_SORTS = {"id": Line.id, "code": Line.code, "name": Line.name,
              "created_at": Line.created_at, "updated_at": Line.updated_at}


class DepartmentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    created_at = ma.fields.DateTime(required=True)
    updated_at = ma.fields.DateTime(required=True)


class DepartmentInput(ma.Schema):
    code = Text(required=True, validate=validate.Length(max=32))
    name = Text(required=True, validate=validate.Length(max=120))


class DepartmentChanges(DepartmentInput):
    """The fields to change; the others keep their values."""


class LineSchema(DepartmentSchema):
    department = ma.fields.Nested(LineRefSchema, required=True, allow_none=True)
    operator_ids = ma.fields.Pluck(RefSchema, "id", many=True, attribute="operators",
                                   required=True, metadata={
                                       "description": "Operators who work at every machine "
                                                      "of the line."})


class LineInput(DepartmentInput):
    department_id = Id(allow_none=True)
    operator_ids = ma.fields.List(Id())


class LineChanges(LineInput):
    """The fields to change; the others keep their values."""


class PlaceQuery(PageQuery):
    q = Text(validate=validate.Length(max=100), metadata={
        "description": "Text in the code or name."})


class DepartmentQuery(PlaceQuery):
    sort = sort_field(DEPARTMENT_SORTS, "name")


class LineQuery(PlaceQuery):
    department = Id(metadata={"description": "Department id."})
    sort = sort_field(LINE_SORTS, "name")


DEPARTMENT_PAGE = page_schema(DepartmentSchema)
LINE_PAGE = page_schema(LineSchema)


def _matching(model, args):
    stmt = select(model)
    if args.get("q"):
        stmt = stmt.where(contains_text(args["q"], model.code, model.name))
    return stmt


# --- departments ----------------------------------------------------------------------------

def load_department(department_id):
    return get_visible(Department, department_id, "department")


@bp.get("/departments", tags=["departments"])
@token_required(*READERS)
@bp.arguments(DepartmentQuery, location="query")
@bp.response(200, DEPARTMENT_PAGE)
def list_departments(args):
    """Departments (the logbook seed's /departments/)."""
    return paginated(sorted_by(_matching(Department, args), args["sort"], DEPARTMENT_SORTS),
                     args)


@bp.post("/departments", tags=["departments"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(DepartmentInput)
@bp.response(201, DepartmentSchema)
def create_department(values):
    """Add a department (managers)."""
    department = services.save_department(Department(), values["code"], values["name"])
    return created(department, "api.get_department", department_id=department.id)


@bp.get("/departments/<int:department_id>", tags=["departments"])
@token_required(*READERS)
@bp.etag
@bp.response(200, DepartmentSchema)
def get_department(department_id):
    """One department."""
    return load_department(department_id)


@bp.patch("/departments/<int:department_id>", tags=["departments"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(DepartmentChanges(partial=True))
@bp.response(200, DepartmentSchema)
def update_department(changes, department_id):
    """Rename or recode a department (managers; If-Match)."""
    return changed(load_department(department_id), DepartmentSchema, lambda d: (
        services.save_department(d, changes.get("code", d.code), changes.get("name", d.name))))


@bp.delete("/departments/<int:department_id>", tags=["departments"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(204)
def delete_department(department_id):
    """Delete an empty department (managers; If-Match); 409 while machines or lines are in
    it."""
    changed(load_department(department_id), DepartmentSchema, services.delete_department)


# --- lines ----------------------------------------------------------------------------------

def load_line(line_id):
    return get_visible(Line, line_id, "line")


def _operators(ids):
    people = [db.session.get(User, i) for i in ids]
    missing = [str(i) for i, user in zip(ids, people, strict=True) if user is None]
    if missing:
        raise ValidationFailed({"operator_ids": f"No user with id {', '.join(missing)}."})
    return people


def _save_line(line, values):
    try:
        services.save_line(
            line, values["code"], values["name"],
            existing(Department, values.get("department_id"), "department_id"),
            _operators(values.get("operator_ids", [])))
    except ValidationFailed as exc:  # the service names the page's field
        raise ValidationFailed({("operator_ids" if k == "operators" else k): v
                                for k, v in exc.errors.items()}) from None
    return line


def _line_values(line):
    return {"code": line.code, "name": line.name, "department_id": line.department_id,
            "operator_ids": [u.id for u in line.operators]}


def lines_page(args):
    stmt = _matching(Line, args).options(selectinload(Line.department),
                                         selectinload(Line.operators))
    if args.get("department"):
        stmt = stmt.where(Line.department_id == args["department"])
    return paginated(sorted_by(stmt, args["sort"], LINE_SORTS), args)


def create_line_from(values):
    line = _save_line(Line(), values)
    return created(line, "api.get_line", line_id=line.id)


def update_line_from(changes, line_id):
    return changed(load_line(line_id), LineSchema,
                   lambda line: _save_line(line, {**_line_values(line), **changes}))


def delete_line_by_id(line_id):
    changed(load_line(line_id), LineSchema, services.delete_line)


@bp.get("/lines", tags=["lines"])
@token_required(*READERS)
@bp.arguments(LineQuery, location="query")
@bp.response(200, LINE_PAGE)
def list_lines(args):
    """Production lines, filtered by department or text."""
    return lines_page(args)


@bp.post("/lines", tags=["lines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(LineInput)
@bp.response(201, LineSchema)
def create_line(values):
    """Add a line (managers)."""
    return create_line_from(values)


@bp.get("/lines/<int:line_id>", tags=["lines"])
@token_required(*READERS)
@bp.etag
@bp.response(200, LineSchema)
def get_line(line_id):
    """One line."""
    return load_line(line_id)


@bp.patch("/lines/<int:line_id>", tags=["lines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(LineChanges(partial=True))
@bp.response(200, LineSchema)
def update_line(changes, line_id):
    """Change a line (managers; If-Match)."""
    return update_line_from(changes, line_id)


@bp.delete("/lines/<int:line_id>", tags=["lines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(204)
def delete_line(line_id):
    """Delete a line without machines or operators (managers; If-Match); else 409."""
    delete_line_by_id(line_id)


@bp.get("/production/lines", tags=["lines"])
@token_required(*READERS)
@bp.arguments(LineQuery, location="query")
@bp.response(200, LINE_PAGE)
def list_production_lines(args):
    """As GET /lines (the floor-dashboard seed's path)."""
    return lines_page(args)


@bp.post("/production/lines", tags=["lines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(LineInput)
@bp.response(201, LineSchema)
def create_production_line(values):
    """As POST /lines."""
    return create_line_from(values)


@bp.get("/production/lines/<int:line_id>", tags=["lines"])
@token_required(*READERS)
@bp.etag
@bp.response(200, LineSchema)
def get_production_line(line_id):
    """As GET /lines/{id}."""
    return load_line(line_id)


@bp.route("/production/lines/<int:line_id>", methods=["PUT", "PATCH"], tags=["lines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.arguments(LineChanges(partial=True))
@bp.response(200, LineSchema)
def update_production_line(changes, line_id):
    """As PATCH /lines/{id}: the fields sent change (If-Match)."""
    return update_line_from(changes, line_id)


@bp.delete("/production/lines/<int:line_id>", tags=["lines"])
@token_required(*roles.MANAGERS)
@bp.etag
@bp.response(204)
def delete_production_line(line_id):
    """As DELETE /lines/{id}."""
    delete_line_by_id(line_id)
