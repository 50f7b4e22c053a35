"""What alert partials are drawn from, and the alerts panel on the machine page.

Page views and the /ws renderers (live.py) build a partial's context with the same helper
here, so a page and its live update cannot drift apart.
"""

from flask import render_template

from app.blueprints.machines import services as machine_services
from app.blueprints.machines.panels import machine_panel

from . import alert_services
from .access import ALERT_READERS, can_acknowledge


def ackable(user, alerts):
    """{alert id: may `user` acknowledge it}, for the one-tap button on each row."""
    return {alert.id: can_acknowledge(user, alert) for alert in alerts}


def row_context(user, alert):
    return {"alert": alert, "may_ack": can_acknowledge(user, alert)}


def machine_alerts_context(user, machine):
    """The machine's open alerts; None for people who may not see this machine's alerts
    (the partial then shows nothing)."""
    may_see = (user.is_authenticated and user.role in ALERT_READERS
               and machine_services.can_see_machine(user, machine))
    return {"machine": machine,
            "machine_alerts": alert_services.machine_open_alerts(machine) if may_see else None}


@machine_panel("reactions", 20)
def machine_alerts(machine, user, **_context):
    return render_template("alerts/_machine_alerts.html",
                           **machine_alerts_context(user, machine))
