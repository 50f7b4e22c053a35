"""Webhook subscriptions at the machine vendor: each machine keeps its subscription id.

The vendor is asked through app/integrations/vendor.py. Functions here flush but never
commit; every failure is a `VendorError` whose message can be shown to a person as it is.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import select

from app.core.extensions import db
from app.core.models import utcnow
from app.integrations.vendor import VendorError, create_subscription, delete_subscription

from .models import Machine
from .services import normalize_code

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What happened to one machine in subscribe_all / unsubscribe_all."""

    machine: Machine
    status: str           # subscribed, unsubscribed, skipped or failed
    message: str

    @property
    def ok(self):
        return self.status != "failed"


def subscribe_machine(machine):
    """Register our webhook for the machine; returns the subscription id.

    Idempotent: the vendor answers a repeat with the same subscription (and takes a
    rotated secret). If the vendor gives a new id (our address changed, say), the old
    subscription is deleted so readings are not pushed twice.
    """
    if not machine.vendor_id:
        raise VendorError(f"{machine.code} has no vendor id, so the vendor cannot know it; "
                          "set the vendor id first.")
    subscription_id = create_subscription(machine.code, machine.vendor_id,
                                          machine.webhook_secret)
    previous = machine.subscription_id
    if previous and previous != subscription_id:
        _delete_quietly(machine, previous)
    if previous != subscription_id or machine.subscribed_at is None:
        machine.subscription_id, machine.subscribed_at = subscription_id, utcnow()
    db.session.flush()
    return subscription_id


def _delete_quietly(machine, subscription_id):
    try:
        delete_subscription(machine.code, subscription_id)
    except VendorError as exc:
        log.warning("%s: could not delete its old subscription %s: %s", machine.code,
                    subscription_id, exc)


def unsubscribe_machine(machine):
    """Delete the machine's subscription at the vendor; False if it had none."""
    if not machine.subscription_id:
        return False
    delete_subscription(machine.code, machine.subscription_id)
    machine.subscription_id = machine.subscribed_at = None
    db.session.flush()
    return True


# --- many machines -----------------------------------------------------------------------

def machines_by_code(codes):
    """(machines in code order, codes not found)."""
    wanted = {normalize_code(c) for c in codes if normalize_code(c)}
    machines = db.session.scalars(select(Machine).where(Machine.code.in_(wanted))
                                  .order_by(Machine.code)).all()
    return machines, sorted(wanted - {m.code for m in machines})


def _each(machines, action):
    outcomes, unreachable = [], None
    for machine in machines:
        if unreachable:  # one timeout is enough; the others would wait just as long
            outcomes.append(Outcome(machine, "failed", f"failed: {unreachable}"))
            continue
        try:
            outcomes.append(action(machine))
        except VendorError as exc:
            outcomes.append(Outcome(machine, "failed", f"failed: {exc.message}"))
            if exc.unreachable:
                unreachable = exc.message
    return outcomes


def subscribe_all(machines=None):
    """Subscribe these machines (default: every machine); one Outcome per machine."""
    if machines is None:
        machines = db.session.scalars(select(Machine).order_by(Machine.code)).all()

    def subscribe(machine):
        if not machine.vendor_id:
            return Outcome(machine, "skipped", "skipped: no vendor id")
        subscription_id = subscribe_machine(machine)
        return Outcome(machine, "subscribed", f"subscribed ({subscription_id})")
    return _each(machines, subscribe)


def unsubscribe_all(machines=None):
    """Unsubscribe these machines (default: every subscribed one); one Outcome each."""
    if machines is None:
        machines = db.session.scalars(select(Machine).where(Machine.subscription_id.isnot(None))
                                      .order_by(Machine.code)).all()

    def unsubscribe(machine):
        if not machine.subscription_id:
            return Outcome(machine, "skipped", "skipped: not subscribed")
        subscription_id = machine.subscription_id
        unsubscribe_machine(machine)
        return Outcome(machine, "unsubscribed", f"unsubscribed ({subscription_id})")
    return _each(machines, unsubscribe)
