"""Andon calls: raise, acknowledge, resolve, and what each person sees of them.

Services flush but never commit; the view (or job) commits once. Every change is kept as
an AndonEvent with who and when, published live after commit and counted in the "andon"
navigation badge.
"""

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from app.blueprints.auth import roles
from app.blueprints.machines.models import Machine
from app.blueprints.machines.services import visible_machines
from app.blueprints.notifications.services import link, notify, people_of_machine
from app.blueprints.production.services import close_downtime, open_downtime
from app.core import uploads
from app.core.badges import badge_counter, publish_badges
from app.core.errors import Forbidden, ValidationFailed
from app.core.extensions import db
from app.core.models import utcnow
from app.realtime import publish_after_commit

from .access import ANSWERERS, EXTRA_BY_KIND, can_answer, can_raise
from .models import ANDON_KINDS, ANDON_PRIORITIES, AndonCall, AndonEvent

# A kind's usual urgency; the person raising the call may change it.
DEFAULT_PRIORITY = {"safety": "critical", "stoppage": "high", "quality": "medium",
                    "material": "medium", "maintenance": "medium"}
DOWNTIME_SOURCE = "andon"
PHOTO_DIR = "andon"   # a folder of its own in UPLOAD_DIR, apart from logbook files
RECENT = 10


class DuplicateCall(ValidationFailed):
    """The machine already has an active call of this kind; `existing` is that call."""

    def __init__(self, existing):
        self.existing = existing
        super().__init__({"kind": f"{existing.machine.code} already has an active "
                                  f"{existing.kind_label.lower()} call (#{existing.id}, "
                                  f"{existing.status_label.lower()})."})


# --- what people see ------------------------------------------------------------------------

def visible_calls(user):
    """A select of the calls `user` may see: operators those of their machines."""
    stmt = select(AndonCall)
    if user.role in roles.MACHINE_BOUND:
        stmt = stmt.where(AndonCall.machine_id.in_(
            visible_machines(user).with_only_columns(Machine.id)))
    return stmt


def search_calls(user, status="", kind="", machine_id=None, line_id=None):
    """A select of the calls `user` may see, narrowed by status, kind, machine and line."""
    stmt = visible_calls(user)
    if status:
        stmt = stmt.where(AndonCall.status == status)
    if kind:
        stmt = stmt.where(AndonCall.kind == kind)
    if machine_id:
        stmt = stmt.where(AndonCall.machine_id == machine_id)
    if line_id:
        stmt = stmt.where(AndonCall.machine_id.in_(select(Machine.id).where(
            Machine.line_id == line_id)))
    return _with_people(stmt).order_by(AndonCall.raised_at.desc(), AndonCall.id.desc())


def _with_people(stmt):
    return stmt.options(selectinload(AndonCall.machine).selectinload(Machine.line),
                        selectinload(AndonCall.raised_by),
                        selectinload(AndonCall.acknowledged_by))


def active_calls(user, machine_ids=None):
    """Active calls the user may see, the longest waiting first."""
    stmt = visible_calls(user).where(AndonCall.resolved_at.is_(None))
    if machine_ids is not None:
        stmt = stmt.where(AndonCall.machine_id.in_(machine_ids))
    return db.session.scalars(_with_people(stmt).order_by(AndonCall.raised_at,
                                                          AndonCall.id)).all()


def recently_resolved(user, limit=RECENT):
    stmt = visible_calls(user).where(AndonCall.resolved_at.is_not(None)).options(
        selectinload(AndonCall.resolved_by))
    return db.session.scalars(_with_people(stmt).order_by(AndonCall.resolved_at.desc())
                              .limit(limit)).all()


def banner_calls(user, limit=6):
    """Unacknowledged active calls the user may see, oldest first (one query)."""
    stmt = visible_calls(user).where(AndonCall.resolved_at.is_(None),
                                     AndonCall.acknowledged_at.is_(None))
    stmt = stmt.options(joinedload(AndonCall.machine))
    return db.session.scalars(stmt.order_by(AndonCall.raised_at, AndonCall.id)
                              .limit(limit)).all()


def active_count(user):
    stmt = visible_calls(user).where(AndonCall.resolved_at.is_(None))
    return db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0


@badge_counter("andon")
def _active_badge(user):
    return active_count(user)


def active_call(machine, kind):
    return db.session.scalars(select(AndonCall).where(
        AndonCall.machine_id == machine.id, AndonCall.kind == kind,
        AndonCall.resolved_at.is_(None))).first()


# --- raising ------------------------------------------------------------------------------

def raise_call(user, machine, kind, priority=None, note="", photo=None, now=None):
    """Raise a call on `machine`; returns it (flushed).

    Refuses (DuplicateCall) a second active call of the same kind on the machine, also when
    two people press at once (the partial unique index decides). A stoppage opens a
    downtime; the people of the machine are notified.
    """
    if not can_raise(user, machine):
        raise Forbidden("You may not raise andon calls on this machine.")
    if kind not in dict(ANDON_KINDS):
        raise ValidationFailed({"kind": "Choose what kind of help is needed."})
    priority = priority or DEFAULT_PRIORITY[kind]
    if priority not in dict(ANDON_PRIORITIES):
        raise ValidationFailed({"priority": "Choose one of the priorities."})
    existing = active_call(machine, kind)
    if existing is not None:
        raise DuplicateCall(existing)
    now = now or utcnow()
    call = AndonCall(machine=machine, kind=kind, priority=priority, note=(note or "").strip(),
                     raised_by=user, raised_at=now, status="open")
    if photo is not None:
        call.photo_name, call.photo_type = save_photo(photo)
    _insert(call, machine, kind)
    if kind == "stoppage":
        reason = f"Andon stoppage #{call.id}" + (f": {call.note}" if call.note else "")
        call.downtime = open_downtime(machine, DOWNTIME_SOURCE, reason=reason, at=now)
    db.session.add(AndonEvent(call=call, actor=user, at=now, kind="raised",
                              detail=f"{call.kind_label}, {call.priority_label.lower()} "
                                     "priority" + (" — " + call.note if call.note else "")))
    db.session.flush()
    _notify_raised(call, user)
    _changed(call)
    return call


def _insert(call, machine, kind):
    """Flush the new call in a savepoint so a lost race becomes a clear refusal."""
    savepoint = db.session.begin_nested()
    db.session.add(call)
    try:
        savepoint.commit()
    except IntegrityError:
        savepoint.rollback()
        existing = active_call(machine, kind)
        if existing is None:
            raise
        raise DuplicateCall(existing) from None


def _notify_raised(call, user):
    answerers = set(ANSWERERS) | EXTRA_BY_KIND.get(call.kind, set())
    notify(people_of_machine(call.machine, include_roles=answerers), "andon",
           f"Andon: {call.kind_label} on {call.machine.code}",
           link("andon.call", call_id=call.id),
           body=f"{call.priority_label} priority, raised by {user.display_name}."
                + (f" {call.note}" if call.note else ""), exclude=user)


def _changed(call):
    publish_after_commit("andon.changed", id=call.id, machine_id=call.machine_id)
    publish_badges("andon")


# --- answering ------------------------------------------------------------------------------

def _lock(call):
    """Re-read the call under a row lock so two taps at once act once."""
    db.session.refresh(call, with_for_update=True)


def acknowledge(user, call, now=None):
    if not can_answer(user, call):
        raise Forbidden("Your role does not answer this call yet.")
    _lock(call)
    if call.resolved_at is not None:
        raise ValidationFailed(f"Call #{call.id} is resolved already.")
    if call.acknowledged_at is not None:
        raise ValidationFailed(f"Call #{call.id} was acknowledged already by "
                               f"{call.acknowledged_by.display_name}.")
    now = now or utcnow()
    _acknowledge(user, call, now)
    db.session.flush()
    _tell_raiser(call, user, f"{user.display_name} is on it")
    _changed(call)
    return call


def _tell_raiser(call, user, what):
    """The person at the machine learns that help is coming (or the call is closed)."""
    notify([call.raised_by], "andon", f"Andon #{call.id} on {call.machine.code}: {what}",
           link("andon.call", call_id=call.id), exclude=user)


def _acknowledge(user, call, now):
    call.status, call.acknowledged_at, call.acknowledged_by = "acknowledged", now, user
    db.session.add(AndonEvent(call=call, actor=user, at=now, kind="acknowledged"))


def resolve(user, call, note="", now=None):
    """Resolve (acknowledging it too if nobody had); a stoppage's downtime ends now."""
    if not can_answer(user, call):
        raise Forbidden("Your role does not answer this call yet.")
    _lock(call)
    if call.resolved_at is not None:
        raise ValidationFailed(f"Call #{call.id} is resolved already.")
    now = now or utcnow()
    if call.acknowledged_at is None:
        _acknowledge(user, call, now)
    note = (note or "").strip()
    call.status, call.resolved_at, call.resolved_by = "resolved", now, user
    call.resolution_note = note
    if call.downtime_id is not None:
        close_downtime(call.machine, DOWNTIME_SOURCE, at=now)
    db.session.add(AndonEvent(call=call, actor=user, at=now, kind="resolved", detail=note))
    db.session.flush()
    _tell_raiser(call, user, f"resolved by {user.display_name}")
    _changed(call)
    return call


# --- photos --------------------------------------------------------------------------------

def save_photo(file_storage):
    """Check a photo by its content (as logbook uploads are) and store it under a random
    name; returns (stored name, content type). Raises ValidationFailed({"photo": ...})."""
    original = uploads.clean_name(file_storage.filename)
    if uploads.extension_of(original) not in uploads.IMAGE_EXTENSIONS:
        raise ValidationFailed({"photo": f"“{original}” is not a photo: use "
                                         + ", ".join(uploads.IMAGE_EXTENSIONS) + " files."})

    def photos_only(sniffed, head):
        if sniffed is None or sniffed.kind != "image":
            raise ValidationFailed({"photo": f"“{original}” is not a photo (its content is "
                                             f"{uploads.describe_content(head)})."})

    stored = uploads.store(file_storage, original, photos_only, sub=PHOTO_DIR,
                           thumbnail=False)
    return stored.name, stored.sniffed.content_type
