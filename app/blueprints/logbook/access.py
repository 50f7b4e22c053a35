"""Who may see and change logbook issues: the machine's visibility rules, plus roles."""


from app.blueprints.auth import roles
from app.blueprints.auth.access import get_or_403
from app.blueprints.machines import services as machine_services

from .models import Issue

# Everyone on the floor reports problems; a viewer only reads.
REPORTERS = roles.EVERYONE - {roles.VIEWER}
# People who work on issues: change status, assign, add remedies.
WORKERS = roles.MANAGERS | {roles.ENGINEER, roles.MAINTENANCE, roles.QUALITY}


def can_see_issue(user, issue):
    return machine_services.can_see_machine(user, issue.machine)


def load_issue(issue_id):
    """The issue, or 404; 403 when its machine is not one the user may see."""
    return get_or_403(Issue, issue_id, can_see_issue)


def can_work_on(user, issue):
    """Workers, and the operator it is assigned to, may move an issue along."""
    return user.role in WORKERS or (issue.assigned_to_id == user.id)
