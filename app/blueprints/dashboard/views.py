from flask import redirect, request
from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.auth.access import roles_required
from app.blueprints.telemetry.tile_cache import tiles_html
from app.core.extensions import csrf
from app.core.htmx import render_page

from . import bp, services


@bp.get("/")
@roles_required(*roles.EVERYONE)
def home():
    if current_user.is_machine_bound:
        machines = services.my_machines(current_user)
        return render_page("dashboard/operator.html", machines=machines,
                           tiles=tiles_html([m.id for m in machines]))
    poll, skipped_polls = services.last_poll()
    return render_page("dashboard/plant.html", summary=services.plant_summary(),
                       poll=poll, skipped_polls=skipped_polls,
                       lines=services.plant_lines(), grids=services.plant_grids(),
                       unstaffed=services.unstaffed_machines())


MOVED_TO_AUTH = "any(login, logout, profile, users, welcome)"


@bp.route(f"/<{MOVED_TO_AUTH}:page>", methods=["GET", "POST"])
@bp.route(f"/<{MOVED_TO_AUTH}:page>/<path:rest>", methods=["GET", "POST"])
@csrf.exempt  # it changes nothing; the page it leads to checks the token
def moved_to_auth(page, rest=""):
    """Login, profile and people pages live under /auth; bookmarks (and a form posted from
    a page loaded before the move) still land there, method and query kept."""
    query = request.query_string.decode()
    target = f"/auth/{page}" + (f"/{rest}" if rest else "") + (f"?{query}" if query else "")
    return redirect(target, 308)
