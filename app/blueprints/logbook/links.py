"""Where an issue came from (an alert, an andon call, a maintenance task) and the tasks made
from it.

A report opened from one of those carries `?source=…&ref=<id>`; the link is kept only when
the object exists, is on a machine the reporter may see and on the issue's machine. The
domains above the logbook register their kinds of source (and the tasks list) here when
their packages are imported; the logbook never names them.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask import url_for

from app.blueprints.machines import services as machine_services
from app.core.extensions import db

SOURCES = {}
TASK_LISTS = []


def _sees_machine(viewer, linked):
    return machine_services.can_see_machine(viewer, linked.machine)


@dataclass(frozen=True)
class Source:
    label: str             # "Andon call"
    model: type            # has .id, .machine and .machine_id
    endpoint: str          # its page, e.g. "andon.call"
    arg: str               # the page's id argument, e.g. "call_id"
    may_open: Callable = _sees_machine   # may_open(viewer, obj): may the viewer open its page


def source_kind(kind, label, model, endpoint, arg, may_open=None):
    """Let issues come from `kind` objects (`?source=kind&ref=<id>`)."""
    SOURCES[kind] = Source(label, model, endpoint, arg, may_open or _sees_machine)


def lists_issue_tasks(fn):
    """Register `fn(issue)` -> the maintenance tasks made from the issue, oldest first."""
    TASK_LISTS.append(fn)
    return fn


def tasks_of(issue):
    return [task for fn in TASK_LISTS for task in fn(issue)]


def label_of(source):
    return SOURCES[source].label


def find_linked(source, ref):
    """The object `source`/`ref` names, or None."""
    if source not in SOURCES or not str(ref or "").isdigit():
        return None
    return db.session.get(SOURCES[source].model, int(ref))


def check_link(user, machine, source, ref):
    """(source, ref) when the link may be kept, else a message saying why it was left off.

    `machine` None means the machine is not chosen yet: only existence and visibility count.
    """
    if not source and not ref:
        return None, None
    if source not in SOURCES:
        return None, f"“{source}” is not something an issue can come from; it was left off."
    label = label_of(source)
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
    if issue.source not in SOURCES or not (issue.source_ref or "").isdigit():
        return None
    kind = SOURCES[issue.source]
    linked = find_linked(issue.source, issue.source_ref)
    url = None
    if linked is not None and kind.may_open(viewer, linked):
        url = url_for(kind.endpoint, **{kind.arg: int(issue.source_ref)})
    return {"label": f"{kind.label} #{issue.source_ref}", "url": url}
