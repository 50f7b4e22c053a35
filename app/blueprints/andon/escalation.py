"""The escalation ladder (data managers edit) and the job step that climbs it.

A level fires when a call has waited `after_minutes` since it was raised without being
acknowledged (stage "acknowledge") or resolved (stage "resolve"). Each level fires once
per call: the call keeps the highest level reached per stage, so a second run at the same
time does nothing. Services flush but never commit.
"""

from collections import defaultdict
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.blueprints.auth import roles
from app.blueprints.machines.models import Machine
from app.blueprints.machines.services import machine_operators_of
from app.blueprints.notifications.services import link, notify, users_with_roles
from app.core.badges import publish_badges
from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.models import as_utc
from app.realtime import publish_after_commit

from .models import ANDON_PRIORITIES, ESCALATION_STAGES, AndonCall, AndonEvent, EscalationLevel

SHIFT, PRODUCTION, ADMIN = roles.SHIFT_MANAGER, roles.PRODUCTION_MANAGER, roles.ADMIN
# (priority, stage) → [(minutes, roles)] for levels 1, 2, 3. Critical (safety) calls climb
# fastest; every ladder ends with the admin (the plant manager on call).
RECOMMENDED = {
    ("critical", "acknowledge"): [(2, [SHIFT]), (5, [PRODUCTION]), (10, [ADMIN])],
    ("critical", "resolve"): [(15, [SHIFT, PRODUCTION]), (30, [ADMIN])],
    ("high", "acknowledge"): [(5, [SHIFT]), (15, [PRODUCTION]), (30, [ADMIN])],
    ("high", "resolve"): [(30, [SHIFT]), (60, [PRODUCTION]), (120, [ADMIN])],
    ("medium", "acknowledge"): [(5, [SHIFT]), (15, [PRODUCTION]), (30, [ADMIN])],
    ("medium", "resolve"): [(60, [SHIFT]), (120, [PRODUCTION]), (240, [ADMIN])],
    ("low", "acknowledge"): [(10, [SHIFT]), (30, [PRODUCTION]), (60, [ADMIN])],
    ("low", "resolve"): [(120, [SHIFT]), (240, [PRODUCTION]), (480, [ADMIN])],
}


# --- the ladder ------------------------------------------------------------------------

def ladder():
    """{priority: {stage: [levels by number]}} for every priority and stage, empty or not."""
    result = {p: {s: [] for s, _ in ESCALATION_STAGES} for p, _ in ANDON_PRIORITIES}
    for level in db.session.scalars(select(EscalationLevel).order_by(
            EscalationLevel.priority, EscalationLevel.stage, EscalationLevel.level)):
        result.setdefault(level.priority, {}).setdefault(level.stage, []).append(level)
    return result


def ladder_is_empty():
    return db.session.scalar(select(EscalationLevel.id).limit(1)) is None


def _level_errors(level, priority, stage, number, after_minutes, role_names):
    errors = {}
    if priority not in dict(ANDON_PRIORITIES):
        errors["priority"] = "Choose one of the priorities."
    if stage not in dict(ESCALATION_STAGES):
        errors["stage"] = "Choose when the level fires: not acknowledged or not resolved."
    if number is None or number < 1 or number > 9:
        errors["level"] = "The level is a number from 1 to 9."
    if after_minutes is None or after_minutes <= 0:
        errors["after_minutes"] = "Minutes must be more than 0."
    elif after_minutes > 7 * 24 * 60:
        errors["after_minutes"] = "At most a week (10080 minutes)."
    unknown = [r for r in role_names or [] if r not in roles.ROLES]
    if unknown:
        errors["roles"] = "Unknown roles: " + ", ".join(unknown) + "."
    elif not role_names:
        errors["roles"] = "Choose at least one role to notify."
    if errors:
        return errors
    return _ladder_order_errors(level, priority, stage, number, after_minutes)


def _ladder_order_errors(level, priority, stage, number, after_minutes):
    """Levels of one ladder are unique and their minutes grow with the level."""
    others = db.session.scalars(select(EscalationLevel).where(
        EscalationLevel.priority == priority, EscalationLevel.stage == stage,
        EscalationLevel.id != (level.id or 0))).all()
    if any(o.level == number for o in others):
        return {"level": f"Level {number} of this ladder exists already: edit it instead."}
    below = [o for o in others if o.level < number and o.after_minutes >= after_minutes]
    above = [o for o in others if o.level > number and o.after_minutes <= after_minutes]
    if below:
        worst = max(below, key=lambda o: o.after_minutes)
        return {"after_minutes": f"Must be more than level {worst.level}'s "
                                 f"{worst.after_minutes} minutes."}
    if above:
        worst = min(above, key=lambda o: o.after_minutes)
        return {"after_minutes": f"Must be less than level {worst.level}'s "
                                 f"{worst.after_minutes} minutes."}
    return {}


def save_level(level, priority, stage, number, after_minutes, role_names):
    """Validate and store one level (new or edited); raises ValidationFailed."""
    role_names = list(dict.fromkeys(role_names or []))
    errors = _level_errors(level, priority, stage, number, after_minutes, role_names)
    if errors:
        raise ValidationFailed(errors)
    level.priority, level.stage, level.level = priority, stage, number
    level.after_minutes, level.roles = after_minutes, role_names
    db.session.add(level)
    db.session.flush()
    return level


def delete_level(level):
    db.session.delete(level)
    db.session.flush()


def install_default_ladder():
    """Add the recommended levels that are missing (idempotent); returns how many."""
    existing = {(lv.priority, lv.stage, lv.level)
                for lv in db.session.scalars(select(EscalationLevel))}
    added = 0
    for (priority, stage), steps in RECOMMENDED.items():
        for number, (minutes, role_names) in enumerate(steps, start=1):
            if (priority, stage, number) in existing:
                continue
            db.session.add(EscalationLevel(priority=priority, stage=stage, level=number,
                                           after_minutes=minutes, roles=list(role_names)))
            added += 1
    db.session.flush()
    return added


# --- climbing it ----------------------------------------------------------------------------

def _levels_by_ladder():
    ladders = defaultdict(list)
    for level in db.session.scalars(select(EscalationLevel).order_by(EscalationLevel.level)):
        ladders[(level.priority, level.stage)].append(level)
    return ladders


def _due(call, levels, reached, now):
    raised = as_utc(call.raised_at)
    return [lv for lv in levels
            if lv.level > reached and raised + timedelta(minutes=lv.after_minutes) <= now]


def escalate_due_calls(now):
    """Fire every level that is due on every active call; returns the events recorded.

    Calls locked by another run are skipped (that run handles them); levels missed while
    the job was down fire together, each recorded and each notifying its roles.
    """
    ladders = _levels_by_ladder()
    if not ladders:
        return []
    calls = db.session.scalars(
        select(AndonCall).where(AndonCall.resolved_at.is_(None))
        .options(selectinload(AndonCall.machine).selectinload(Machine.line))
        .order_by(AndonCall.raised_at).with_for_update(of=AndonCall, skip_locked=True)).all()
    events = []
    for call in calls:
        events += _escalate_call(call, ladders, now)
    if events:
        db.session.flush()
        publish_badges("andon")
    return events


def _escalate_call(call, ladders, now):
    events = []
    told = set()
    if call.acknowledged_at is None:
        due = _due(call, ladders.get((call.priority, "acknowledge"), []), call.ack_level, now)
        for level in due:
            events.append(_fire(call, level, now, told))
            call.ack_level = level.level
    due = _due(call, ladders.get((call.priority, "resolve"), []), call.resolve_level, now)
    for level in due:
        events.append(_fire(call, level, now, told))
        call.resolve_level = level.level
    if events:
        publish_after_commit("andon.changed", id=call.id, machine_id=call.machine_id)
    return events


def _people_for(level, machine):
    """Holders of the level's roles; machine-bound roles only if assigned to the machine."""
    plant_wide = [r for r in level.roles if r not in roles.MACHINE_BOUND]
    people = list(users_with_roles(plant_wide))
    if set(level.roles) & roles.MACHINE_BOUND:
        people += [u for u in machine_operators_of(machine) if u.role in level.roles]
    return people


def _fire(call, level, now, told):
    stage_word = "not acknowledged" if level.stage == "acknowledge" else "not resolved"
    role_words = ", ".join(roles.ROLE_LABELS.get(r, r) for r in level.roles)
    event = AndonEvent(call=call, at=now, kind="escalated", level=level.level,
                       detail=f"{level.stage}: {stage_word} after {level.after_minutes} min "
                              f"→ {role_words} notified")
    db.session.add(event)
    people = [p for p in _people_for(level, call.machine) if p.id not in told]
    told.update(p.id for p in people)
    notify(people, "escalation",
           f"Andon escalated to level {level.level}: {call.kind_label} on {call.machine.code}",
           link("andon.call", call_id=call.id),
           body=f"{call.priority_label} priority call {stage_word} after "
                f"{level.after_minutes} minutes." + (f" Note: {call.note}" if call.note else ""))
    return event
