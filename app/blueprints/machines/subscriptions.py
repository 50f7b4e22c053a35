"""Webhook subscriptions at the machine vendor's API (docs/vendor-contract.md, section 2).

Floorline asks the vendor at `VENDOR_API_URL` to push each machine's readings to
`PUBLIC_BASE_URL` + /api/v1/ingest, signed with the machine's webhook secret, and keeps the
subscription id on the machine. Functions here flush but never commit; every failure is a
`VendorError` whose message can be shown to a person as it is.
"""

import logging
from dataclasses import dataclass
from urllib.parse import quote

import requests
from flask import current_app
from sqlalchemy import select

from app.blueprints.machines.models import Machine
from app.blueprints.machines.services import normalize_code
from app.core.extensions import db
from app.core.models import utcnow

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5


class VendorError(Exception):
    """The vendor could not do it; `str(error)` says why in plain words.

    `unreachable` is set when the vendor API did not answer at all, so callers working
    through many machines need not wait for each one to time out.
    """

    def __init__(self, message, unreachable=False):
        super().__init__(message)
        self.message, self.unreachable = message, unreachable


@dataclass
class Outcome:
    """What happened to one machine in subscribe_all / unsubscribe_all."""

    machine: Machine
    status: str           # subscribed, unsubscribed, skipped or failed
    message: str

    @property
    def ok(self):
        return self.status != "failed"


def api_url():
    return current_app.config["VENDOR_API_URL"].rstrip("/")


def callback_url():
    """Where the vendor sends readings: our public address + the ingest endpoint."""
    path = current_app.url_map.bind("localhost").build("api.ingest")
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def _request(method, path, **kwargs):
    base = api_url()
    try:
        return requests.request(method, base + path, timeout=TIMEOUT_SECONDS,
                                headers={"Accept": "application/json"}, **kwargs)
    except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
            requests.exceptions.InvalidURL):
        raise VendorError(f"VENDOR_API_URL '{base}' is not a valid http:// or https:// "
                          "address.", unreachable=True) from None
    except requests.Timeout:
        raise VendorError(f"The vendor API at {base} did not answer within "
                          f"{TIMEOUT_SECONDS} seconds; try again later.",
                          unreachable=True) from None
    except requests.ConnectionError:
        raise VendorError(f"Cannot reach the vendor API at {base}: is it running, and is "
                          "VENDOR_API_URL right?", unreachable=True) from None
    except requests.RequestException as exc:
        raise VendorError(f"Talking to the vendor API at {base} failed: {exc}") from None


def _reason(response):
    """The vendor's own words for a refusal, kept short."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        text = payload["error"]
    else:
        text = " ".join(response.text.split())
    return f"HTTP {response.status_code}" + (f": {text[:200]}" if text else "")


def subscribe_machine(machine):
    """Register our webhook for the machine; returns the subscription id.

    Idempotent: the vendor answers a repeat with the same subscription (and takes a
    rotated secret). If the vendor gives a new id (our address changed, say), the old
    subscription is deleted so readings are not pushed twice.
    """
    if not machine.vendor_id:
        raise VendorError(f"{machine.code} has no vendor id, so the vendor cannot know it; "
                          "set the vendor id first.")
    response = _request("POST", "/subscriptions", json={
        "machine_id": machine.vendor_id, "callback_url": callback_url(),
        "secret": machine.webhook_secret})
    if response.status_code not in (200, 201):
        raise VendorError(f"The vendor refused to subscribe {machine.code} "
                          f"({machine.vendor_id}): {_reason(response)}")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    subscription_id = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(subscription_id, int) and not isinstance(subscription_id, bool):
        subscription_id = str(subscription_id)
    if not isinstance(subscription_id, str) or not subscription_id:
        raise VendorError(f"The vendor accepted {machine.code} but sent no subscription id "
                          "back; nothing was stored.")
    previous = machine.subscription_id
    if previous and previous != subscription_id:
        _delete_quietly(machine, previous)
    if previous != subscription_id or machine.subscribed_at is None:
        machine.subscription_id, machine.subscribed_at = subscription_id, utcnow()
    db.session.flush()
    return subscription_id


def _delete_quietly(machine, subscription_id):
    try:
        _delete(machine, subscription_id)
    except VendorError as exc:
        log.warning("%s: could not delete its old subscription %s: %s", machine.code,
                    subscription_id, exc)


def _delete(machine, subscription_id):
    response = _request("DELETE", f"/subscriptions/{quote(subscription_id, safe='')}")
    if response.status_code not in (200, 204, 404):   # 404: gone already, which is done
        raise VendorError(f"The vendor refused to unsubscribe {machine.code}: "
                          f"{_reason(response)}")


def unsubscribe_machine(machine):
    """Delete the machine's subscription at the vendor; False if it had none."""
    if not machine.subscription_id:
        return False
    _delete(machine, machine.subscription_id)
    machine.subscription_id = machine.subscribed_at = None
    db.session.flush()
    return True


def list_subscriptions():
    """The vendor's subscriptions: [{"id", "machine_id", "callback_url"}, ...]."""
    response = _request("GET", "/subscriptions")
    if response.status_code != 200:
        raise VendorError(f"The vendor would not list subscriptions: {_reason(response)}")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, list):
        raise VendorError("The vendor's subscription list is not a JSON list.")
    return payload


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
