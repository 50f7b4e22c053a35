"""Demo maintenance plans on the demo plant (idempotent; the caller commits)."""

from sqlalchemy import select

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.blueprints.machines.models import Machine
from app.core.extensions import db

from .models import MaintenancePlan
from .plans import save_plan

# (machine code, title, description, every days, running hours, parts, priority)
DEMO_PLANS = (
    ("CNC-01", "Lubricate guideways and check spindle",
     "Grease the guideways, check spindle run-out and the coolant level.",
     None, 8, None, "medium"),
    ("STP-01", "Die inspection and clean",
     "Inspect the die for wear and burrs, clean the bolster, check the guide pins.",
     None, None, 5000, "high"),
    ("WLD-01", "Monthly welding robot service",
     "Replace the contact tip, clean the nozzle, check the wire feeder and the cables.",
     30, None, None, "medium"),
)


def seed_demo():
    """Add the demo plans that are missing (matched by machine and title); returns them."""
    admin = db.session.scalar(select(User).where(User.role == roles.ADMIN).order_by(User.id)
                              .limit(1))
    if admin is None:
        return []
    made = []
    for code, title, description, days, hours, parts, priority in DEMO_PLANS:
        machine = db.session.scalar(select(Machine).where(Machine.code == code))
        if machine is None or _exists(machine, title):
            continue
        made.append(save_plan(admin, MaintenancePlan(), machine, title, description, priority,
                              days, hours, parts, 3))
    return made


def _exists(machine, title):
    return db.session.scalar(select(MaintenancePlan.id).where(
        MaintenancePlan.machine_id == machine.id, MaintenancePlan.title == title)) is not None
