"""Where an issue came from: an alert, an andon call or a maintenance task.

A report opened from one of those carries `?source=…&ref=<id>`; the link is kept only when
the object exists, is on a machine the reporter may see and on the issue's machine.
"""

from flask import url_for

from app.blueprints.machines import services as machine_services
from app.core.extensions import db

LINKABLE = ("alert", "andon", "task")
LABELS = {"alert": "Alert", "andon": "Andon call", "task": "Task"}
ENDPOINTS = {"alert": ("alerts.show", "alert_id"), "andon": ("andon.call", "call_id"),
             "task": ("tasks.show", "task_id")}


def _model(source):
    if source == "alert":
        from app.blueprints.alerts.models import Alert
        return Alert
    if source == "andon":
        from app.blueprints.andon.models import AndonCall
        return AndonCall
    from app.blueprints.tasks.models import Task
    return Task


def find_linked(source, ref):
    """The object `source`/`ref` names, or None."""
    if source not in LINKABLE or not str(ref or "").isdigit():
        return None
    return db.session.get(_model(source), int(ref))


def check_link(user, machine, source, ref):
    """(source, ref) when the link may be kept, else a message saying why it was left off.

    `machine` None means the machine is not chosen yet: only existence and visibility count.
    """
    if not source and not ref:
        return None, None
    label = LABELS.get(source, "The linked object")
    if source not in LINKABLE:
        return None, f"“{source}” is not something an issue can come from; it was left off."
    obj = find_linked(source, ref)
    if obj is None:
        return None, f"{label} #{ref} does not exist; the issue is reported without the link."
    if not machine_services.can_see_machine(user, obj.machine):
        return None, (f"{label} #{obj.id} is on a machine you do not work on; the issue is "
                      "reported without the link.")
    if machine is not None and obj.machine_id != machine.id:
        return None, (f"{label} #{obj.id} is on {obj.machine.code}, not {machine.code}; the "
                      "issue is reported without the link.")
    return obj, None


def came_from(issue, viewer):
    """{"label": "Task #7", "url": … or None} for an issue that came from a linked object;
    no url when `viewer` may not open it (alerts are for managers and the machine's
    operators only: a maintenance lead reading the issue would get a 403)."""
    if issue.source not in LINKABLE or not (issue.source_ref or "").isdigit():
        return None
    label = f"{LABELS[issue.source]} #{issue.source_ref}"
    endpoint, arg = ENDPOINTS[issue.source]
    linked = find_linked(issue.source, issue.source_ref)
    url = None
    if linked is not None and _may_open(viewer, issue.source, linked):
        url = url_for(endpoint, **{arg: int(issue.source_ref)})
    return {"label": label, "url": url}


def _may_open(viewer, source, linked):
    if source == "alert":
        from app.blueprints.alerts.access import can_see_alert

        return can_see_alert(viewer, linked)
    return machine_services.can_see_machine(viewer, linked.machine)
