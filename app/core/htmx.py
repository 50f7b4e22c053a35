"""One handler serves the full page or, for htmx, just the partial the page includes."""

from flask import make_response, render_template, request


def is_htmx():
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def render_page(template_name, partial=None, status=200, **context):
    chosen = partial if partial and is_htmx() else template_name
    response = make_response(render_template(chosen, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_for_htmx(url):
    """htmx follows HX-Redirect; a plain 303 would swap the whole next page into a target."""
    response = make_response("", 204)
    response.headers["HX-Redirect"] = url
    return response


def dom_id(obj, suffix=""):
    """Stable element id for a model object, e.g. machine-42 or machine-42-row."""
    name = obj.__class__.__name__
    kebab = "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")
    return f"{kebab}-{obj.id}" + (f"-{suffix}" if suffix else "")
