"""The machine detail page's history: chart, readings table and CSV export.

Each page URL returns the whole machine page (show.html) with that section, or just the
section's partial for htmx. Access is the machine page's: `load_machine` (404/403).
"""

from flask import Response, request, stream_with_context

from app.blueprints.auth import roles
from app.blueprints.auth.access import roles_required
from app.blueprints.machines import views as machines_views
from app.blueprints.machines.views import load_machine
from app.core.htmx import is_htmx

from . import bp
from .ranges import RangeError, chart_range, known_zone, optional_range
from .readings import csv_filename, csv_rows, parse_cursor, readings_page
from .series import build_chart, failed_chart


def machine_page(machine, section, partial, status=200, **context):
    """The machine page with `section` ("chart" or "readings"), or its partial for htmx."""
    return machines_views.machine_page(machine, partial, status, section=section, **context)


# chart.js remembers the browser's time zone here; times people type are read in it.
ZONE_COOKIE = "floorline_tz"


def _browser_zone():
    return known_zone(request.cookies.get(ZONE_COOKIE, ""))


def default_chart(machine):
    """The chart the machine page opens with (the last 8 hours)."""
    return build_chart(machine, chart_range({}, default_zone=_browser_zone()))


@bp.get("/machines/<int:machine_id>/history")
@roles_required(*roles.EVERYONE)
def history(machine_id):
    machine = load_machine(machine_id)
    try:
        time_range = chart_range(request.args, default_zone=_browser_zone())
    except RangeError as exc:
        chart = failed_chart(machine, exc, request.args, _browser_zone())
        # htmx swaps 422 (see base.html); a page load gets a plain 400.
        return machine_page(machine, "chart", "telemetry/_chart.html",
                            status=422 if is_htmx() else 400, chart=chart)
    chart = build_chart(machine, time_range, request.args.getlist("metric"))
    return machine_page(machine, "chart", "telemetry/_chart.html", chart=chart)


@bp.get("/machines/<int:machine_id>/readings")
@roles_required(*roles.EVERYONE)
def readings(machine_id):
    machine = load_machine(machine_id)
    try:
        start, end, zone = optional_range(request.args, _browser_zone())
        before = _cursor_arg("before")
        after = _cursor_arg("after")
    except RangeError as exc:
        return machine_page(machine, "readings", "telemetry/_readings.html",
                            status=422 if is_htmx() else 400, readings_error=str(exc),
                            readings_page=None)
    page = readings_page(machine, start, end, zone, before=before, after=after)
    return machine_page(machine, "readings", "telemetry/_readings.html", readings_page=page)


def _cursor_arg(name):
    value = request.args.get(name, "").strip()
    return parse_cursor(value) if value else None


@bp.get("/machines/<int:machine_id>/readings.csv")
@roles_required(*roles.EVERYONE)
def readings_csv(machine_id):
    machine = load_machine(machine_id)
    try:
        start, end, _zone = optional_range(request.args, _browser_zone())
    except RangeError as exc:
        return Response(f"{exc}\n", 400, mimetype="text/plain")
    response = Response(stream_with_context(csv_rows(machine, start, end)), mimetype="text/csv")
    filename = csv_filename(machine, start, end)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response

