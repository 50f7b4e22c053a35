from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.auth.access import roles_required
from app.blueprints.telemetry.tiles import tiles_of
from app.core.htmx import render_page

from . import bp, services


@bp.get("/")
@roles_required(*roles.EVERYONE)
def home():
    if current_user.is_machine_bound:
        machines = services.my_machines(current_user)
        return render_page("dashboard/operator.html", machines=machines,
                           tiles=tiles_of(machines))
    lines, loose = services.plant_by_line()
    poll, skipped_polls = services.last_poll()
    return render_page("dashboard/plant.html", summary=services.plant_summary(),
                       poll=poll, skipped_polls=skipped_polls,
                       lines=lines, loose=loose,
                       tiles=tiles_of([m for line in lines for m in line.machines] + loose),
                       unstaffed=services.unstaffed_machines())
