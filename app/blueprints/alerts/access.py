"""Who may see alerts and rules, and who may do what with an alert."""


from app.blueprints.auth import roles
from app.blueprints.auth.access import get_or_403
from app.blueprints.logbook.links import source_kind
from app.blueprints.machines import services as machine_services
from app.core.extensions import db

from .models import Alert, AlertRule

# Managers and the operators of the machine; nobody else sees alerts.
ALERT_READERS = roles.MANAGERS | roles.MACHINE_BOUND


def can_see_alert(user, alert):
    if user.role in roles.MANAGERS:
        return True
    return user.role in roles.MACHINE_BOUND and machine_services.can_see_machine(
        user, alert.machine)


def can_acknowledge(user, alert):
    """Managers and the machine's operators (who are the operators that see it)."""
    return can_see_alert(user, alert)


def can_comment(user, alert):
    return can_see_alert(user, alert) and user.role != roles.VIEWER


def can_close(user, alert):
    return user.role in roles.MANAGERS


def load_alert(alert_id):
    """The alert, or 404; 403 when the user may not see it."""
    return get_or_403(Alert, alert_id, can_see_alert)


# Alerts are for managers and the machine's operators only, whoever may read the issue.
source_kind("alert", "Alert", Alert, "alerts.show", "alert_id", may_open=can_see_alert)


def load_rule(rule_id):
    return db.get_or_404(AlertRule, rule_id)
