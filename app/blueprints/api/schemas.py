"""Fields, pagination and sorting every API resource shares (docs/api.md "Conventions")."""

from urllib.parse import urlencode

import marshmallow as ma
from flask import request
from marshmallow import validate

from app.core.extensions import db

MAX_ID = 2**31 - 1  # PostgreSQL's integer: a larger id names nothing
MAX_PER_PAGE = 100


class Text(ma.fields.String):
    """A string the database can store: no NUL character, no lone surrogate."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ma.ValidationError("Must not contain NUL characters.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ma.ValidationError("Must be valid Unicode text.") from None
        return text


class Id(ma.fields.Integer):
    """A row id as a client sends it: a positive integer within the database's range."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(1, MAX_ID), **kwargs)


def valid_id(ident):
    return 1 <= ident <= MAX_ID


class RefSchema(ma.Schema):
    """Another resource, by id and the name people know it by."""

    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class PageQuery(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=validate.Range(1, 100_000),
                             metadata={"description": "Page number, from 1."})
    per_page = ma.fields.Integer(load_default=25, validate=validate.Range(1, MAX_PER_PAGE),
                                 metadata={"description": f"Items per page, 1–{MAX_PER_PAGE}."})


def sort_field(columns, default):
    """`sort=name,-created_at`: comma-separated names, a minus for descending."""
    names = sorted(columns)

    def check(value):
        unknown = [p for p in value.split(",") if p.lstrip("-") not in columns]
        if unknown:
            raise ma.ValidationError(f"Unknown sort key {unknown[0]!r}; use {', '.join(names)}.")
    return Text(load_default=default, validate=check, metadata={
        "description": f"Comma-separated keys ({', '.join(names)}); '-' for descending.",
        "example": default})


def sorted_by(stmt, sort, columns):
    keys = [p for p in sort.split(",") if p]
    order = [columns[k.lstrip("-")].desc() if k.startswith("-") else columns[k].asc()
             for k in keys]
    return stmt.order_by(None).order_by(*order)


class LinksSchema(ma.Schema):
    self = ma.fields.String(required=True)
    first = ma.fields.String(required=True)
    last = ma.fields.String(required=True)
    next = ma.fields.String(required=True, allow_none=True)
    prev = ma.fields.String(required=True, allow_none=True)


def page_schema(item_schema):
    """The envelope of a list: the page's items, where it is, and links to its neighbours."""
    return type(f"{item_schema.__name__.removesuffix('Schema')}PageSchema", (ma.Schema,), {
        "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        "page": ma.fields.Integer(required=True),
        "per_page": ma.fields.Integer(required=True),
        "total": ma.fields.Integer(required=True),
        "pages": ma.fields.Integer(required=True),
        "links": ma.fields.Nested(LinksSchema, required=True),
    })


def _link(page):
    args = request.args.to_dict()
    args["page"] = page
    return f"{request.base_url}?{urlencode(args)}"


def paginated(stmt, args):
    page = db.paginate(stmt, page=args["page"], per_page=args["per_page"], error_out=False)
    last = max(page.pages, 1)
    return {"items": page.items, "page": page.page, "per_page": page.per_page,
            "total": page.total, "pages": page.pages,
            "links": {"self": _link(page.page), "first": _link(1), "last": _link(last),
                      "next": _link(page.page + 1) if page.has_next else None,
                      "prev": _link(min(page.page - 1, last)) if page.page > 1 else None}}


class PersonSchema(ma.Schema):
    """A user as others see them: id and display name."""

    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True, attribute="display_name")


class MachineRefSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    name = ma.fields.String(required=True)


class HistoryEventSchema(ma.Schema):
    """One line of a thing's history (core.models.HistoryEventMixin)."""

    at = ma.fields.DateTime(required=True)
    kind = ma.fields.String(required=True)
    detail = ma.fields.String(required=True)
    actor = ma.fields.Nested(PersonSchema, required=True, allow_none=True, metadata={
        "description": "Who did it; null for what Floorline did by itself."})
