"""The machine vendor's subscription API (docs/vendor-contract.md, section 2).

Plain requests and answers: the vendor at `VENDOR_API_URL` is asked to push a machine's
readings to `PUBLIC_BASE_URL` + /api/v1/ingest, signed with the machine's webhook secret.
Nothing here reads or writes rows; app/blueprints/machines/subscriptions.py keeps the
subscription on the machine. Every failure is a `VendorError` whose message can be shown
to a person as it is.
"""

from urllib.parse import quote

import requests
from flask import current_app

TIMEOUT_SECONDS = 5


class VendorError(Exception):
    """The vendor could not do it; `str(error)` says why in plain words.

    `unreachable` is set when the vendor API did not answer at all, so callers working
    through many machines need not wait for each one to time out.
    """

    def __init__(self, message, unreachable=False):
        super().__init__(message)
        self.message, self.unreachable = message, unreachable


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


def create_subscription(code, vendor_id, secret):
    """Ask the vendor to push `vendor_id`'s readings to us; returns the subscription id.

    `code` is our name for the machine, for messages. The vendor answers a repeat with the
    same subscription (and takes a rotated secret).
    """
    response = _request("POST", "/subscriptions", json={
        "machine_id": vendor_id, "callback_url": callback_url(), "secret": secret})
    if response.status_code not in (200, 201):
        raise VendorError(f"The vendor refused to subscribe {code} "
                          f"({vendor_id}): {_reason(response)}")
    try:
        payload = response.json()
    except ValueError:
        payload = None
    subscription_id = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(subscription_id, int) and not isinstance(subscription_id, bool):
        subscription_id = str(subscription_id)
    if not isinstance(subscription_id, str) or not subscription_id:
        raise VendorError(f"The vendor accepted {code} but sent no subscription id "
                          "back; nothing was stored.")
    return subscription_id


def delete_subscription(code, subscription_id):
    """Delete a subscription; one the vendor no longer has counts as deleted."""
    response = _request("DELETE", f"/subscriptions/{quote(subscription_id, safe='')}")
    if response.status_code not in (200, 204, 404):   # 404: gone already, which is done
        raise VendorError(f"The vendor refused to unsubscribe {code}: "
                          f"{_reason(response)}")


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
