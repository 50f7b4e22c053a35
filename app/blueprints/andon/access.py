"""Who may see, raise, acknowledge and resolve andon calls.

Seeing a call follows the machine: operators see the calls of their machines, everyone
else sees every call. Anyone on the floor raises one (not viewers: they only read).

Answering a call (acknowledge or resolve) is for "the roles of its level":

- before any escalation: the managers and maintenance, who answer every call; plus
  quality for quality calls, engineers for maintenance calls, and both engineers and
  quality for safety calls (a safety hazard needs whoever knows the process);
- once the call has escalated to level N in either stage, also the roles of that
  stage's levels 1..N for the call's priority (someone the ladder has called in may act
  on what they were called for, an operator included if a manager put operators on it).

Operators and viewers are not answerers by default: the person who raised a call must
not silence it before help arrives.
"""

from sqlalchemy import or_, select

from app.blueprints.auth import roles
from app.blueprints.auth.access import get_or_403
from app.blueprints.logbook.links import source_kind
from app.blueprints.machines import services as machine_services
from app.core.extensions import db

from .models import AndonCall, EscalationLevel

source_kind("andon", "Andon call", AndonCall, "andon.call", "call_id")

RAISERS = roles.EVERYONE - {roles.VIEWER}
ANSWERERS = roles.MANAGERS | {roles.MAINTENANCE}
EXTRA_BY_KIND = {
    "quality": {roles.QUALITY},
    "maintenance": {roles.ENGINEER},
    "safety": {roles.ENGINEER, roles.QUALITY},
}


def can_see_call(user, call):
    return machine_services.can_see_machine(user, call.machine)


def load_call(call_id):
    """The call, or 404; 403 when its machine is not one the user may see."""
    return get_or_403(AndonCall, call_id, can_see_call)


def escalated_roles(call):
    """Roles of the ladder levels this call has reached (both stages)."""
    reached = []
    for stage, level in (("acknowledge", call.ack_level), ("resolve", call.resolve_level)):
        if level:
            reached.append((EscalationLevel.stage == stage) & (EscalationLevel.level <= level))
    if not reached:
        return set()
    rows = db.session.scalars(select(EscalationLevel.roles).where(
        EscalationLevel.priority == call.priority, or_(*reached))).all()
    return {role for row in rows for role in (row or [])}


def answerer_roles(call):
    return set(ANSWERERS) | EXTRA_BY_KIND.get(call.kind, set()) | escalated_roles(call)


def can_answer(user, call):
    """May acknowledge and resolve this call (and see it)."""
    return user.role in answerer_roles(call) and can_see_call(user, call)


def can_raise(user, machine):
    return user.role in RAISERS and machine_services.can_see_machine(user, machine)
