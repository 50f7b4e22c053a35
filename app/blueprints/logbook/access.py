"""Who may see and change logbook issues: the machine's visibility rules, plus roles."""

from flask import abort
from flask_login import current_user

from app.blueprints.auth import roles
from app.blueprints.machines import services as machine_services
from app.extensions import db

from .models import Issue

# Everyone on the floor reports problems; a viewer only reads.
REPORTERS = roles.EVERYONE - {roles.VIEWER}
# People who work on issues: change status, assign, add remedies.
WORKERS = roles.MANAGERS | {roles.ENGINEER, roles.MAINTENANCE, roles.QUALITY}


def can_see_issue(user, issue):
    return machine_services.can_see_machine(user, issue.machine)


def load_issue(issue_id):
    """The issue, or 404; 403 when its machine is not one the user may see."""
    issue = db.get_or_404(Issue, issue_id)
    if not can_see_issue(current_user, issue):
        abort(403)
    return issue


def can_work_on(user, issue):
    """Workers, and the operator it is assigned to, may move an issue along."""
    return user.role in WORKERS or (issue.assigned_to_id == user.id)
