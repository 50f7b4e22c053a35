"""The demo plant and demo users that `make run` loads; loading twice changes nothing."""

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from app.blueprints.alerts import demo as alerts_demo
from app.blueprints.andon import demo as andon_demo
from app.blueprints.auth import roles
from app.blueprints.auth import services as auth_services
from app.blueprints.machines import fixtures
from app.blueprints.machines.models import Line, Machine
from app.blueprints.tasks import demo as tasks_demo
from app.core.extensions import db

PLANT = Path(__file__).with_name("plant.json")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-floor-2026")

# username, role, full name, lines, machines
DEMO_USERS = (
    ("admin", roles.ADMIN, "Ada Admin", (), ()),
    ("manager", roles.PRODUCTION_MANAGER, "Paula Production", (), ()),
    ("shift", roles.SHIFT_MANAGER, "Sam Shift", (), ()),
    ("engineer", roles.ENGINEER, "Erik Engineer", (), ()),
    ("maintenance", roles.MAINTENANCE, "Mia Maintenance", (), ()),
    ("quality", roles.QUALITY, "Quinn Quality", (), ()),
    ("viewer", roles.VIEWER, "Vic Viewer", (), ()),
    ("operator1", roles.OPERATOR, "Olga Operator", ("L1",), ()),
    # Every demo machine has an operator, so whatever overheats, someone at it is told.
    ("operator2", roles.OPERATOR, "Omar Operator", ("L2", "L3"),
     ("LKT-01", "AGV-01", "AGV-02")),
)

demo_cli = AppGroup("demo", help="The demo plant.")
# The data URLs in plant.json name the simulator's default address.
SIMULATOR_DEFAULT_URL = "http://127.0.0.1:8100"


def demo_plant_json():
    """plant.json with its data URLs at this checkout's simulator (VENDOR_API_URL)."""
    vendor = current_app.config["VENDOR_API_URL"].rstrip("/")
    return PLANT.read_text(encoding="utf-8").replace(SIMULATOR_DEFAULT_URL, vendor)


def load_users():
    created = []
    for username, role, name, line_codes, machine_codes in DEMO_USERS:
        if auth_services.find_user(username):
            continue
        user = auth_services.create_account(role, username, DEMO_PASSWORD, full_name=name,
                                            shift="day")
        user.lines = db.session.scalars(select(Line).where(Line.code.in_(line_codes))).all()
        user.machines = db.session.scalars(
            select(Machine).where(Machine.code.in_(machine_codes))).all()
        created.append(user)
    db.session.flush()
    return created


def load_reactions():
    """Alert rules, the andon ladder and maintenance plans for the demo plant (idempotent;
    after the users, since rules and plans name the admin as their author)."""
    return {"rules": len(alerts_demo.seed_demo()), "levels": andon_demo.seed_demo(),
            "plans": len(tasks_demo.seed_demo())}


@demo_cli.command("load")
def load_command():
    """Load the demo plant and demo users (idempotent) and print the logins."""
    counts = fixtures.load(demo_plant_json())
    created = load_users()
    reactions = load_reactions()
    db.session.commit()
    click.echo(f"Demo plant: {counts['machines']} machines on {counts['lines']} lines; "
               f"{len(created)} demo users created.")
    if any(reactions.values()):
        click.echo("Demo monitoring: {rules} alert rules, {levels} andon escalation levels, "
                   "{plans} maintenance plans added.".format(**reactions))
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for username, role, name, *_ in DEMO_USERS:
        click.echo(f"  {username:12} {roles.ROLE_LABELS[role]:20} {name}")
