"""Machines domain: departments, lines, machine types, machines, assignments, vendor
subscriptions (/machines)."""

from flask import Blueprint

from app.blueprints.auth import roles
from app.blueprints.auth.workplace import workplace_source
from app.core.navigation import nav_entry

bp = Blueprint("machines", __name__, url_prefix="/machines")
nav_entry(20, "Machines", "machines.index", roles.EVERYONE,
          ("machines.index", "machines.show", "machines.new", "machines.edit", "telemetry."))
nav_entry(70, "Types", "machines.types", roles.PLANT_WIDE,
          ("machines.types", "machines.show_type", "machines.new_type", "machines.edit_type",
           "machines.new_metric", "machines.edit_metric"))
nav_entry(80, "Lines", "machines.lines", roles.PLANT_WIDE,
          ("machines.lines", "machines.new_line", "machines.edit_line", "machines.departments",
           "machines.new_department", "machines.edit_department"))

from . import cli, live, services, setup_views, vendor_cli, views  # noqa: E402,F401

# Auth's user forms offer lines and machines without naming this domain.
workplace_source(services.workplace_choices, services.chosen_workplace)
