"""The 20-second poll: fetch every polled machine's data URL and ingest what comes back.

`rq cron` enqueues the job (app/jobs/polling.py) that runs poll_cycle() every
POLL_INTERVAL_SECONDS. A cycle holds a Redis lock for its duration, so a slow cycle never
has a second one running beside it: the next enqueue finds the lock and records a skipped
cycle instead.
"""

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import select

from app.blueprints.machines.models import Machine
from app.core.extensions import db, redis_client
from app.core.models import utcnow
from app.realtime import publish_after_commit

from . import ingest as telemetry
from .models import MachineState, PollCycle

log = logging.getLogger(__name__)
LOCK_KEY = "floorline:poll:lock"


def fetch(url, timeout):
    """(readings, None) from a data URL, or (None, reason) — never raises."""
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
    except requests.Timeout:
        return None, f"no answer within {timeout:g} s"
    except requests.RequestException as exc:
        return None, f"cannot connect: {exc.__class__.__name__}"
    if response.status_code != 200:
        return None, f"HTTP {response.status_code} from the data URL"
    try:
        payload = response.json()
    except ValueError:
        return None, "the data URL did not answer JSON"
    if isinstance(payload, dict) and isinstance(payload.get("readings"), list):
        return payload["readings"], None
    if isinstance(payload, dict) and "values" in payload:
        return [payload], None
    return None, "the answer has neither values nor readings"


def _acquire(ttl):
    token = uuid.uuid4().hex
    try:
        return token if redis_client().set(LOCK_KEY, token, nx=True, ex=ttl) else None
    except RedisError:
        log.warning("poll lock unavailable (Redis down); polling anyway", exc_info=True)
        return token


def _release(token):
    try:
        # Only our own lock: a cycle that outlived its TTL must not free the next one's.
        if redis_client().get(LOCK_KEY) == token.encode():
            redis_client().delete(LOCK_KEY)
    except RedisError:
        pass


def poll_cycle():
    """One cycle, committed: a PollCycle row says what it did (or that it was skipped)."""
    config = current_app.config
    started = utcnow()
    token = _acquire(ttl=max(int(config["POLL_INTERVAL_SECONDS"]) * 10, 60))
    if token is None:
        db.session.add(PollCycle(started_at=started, skipped=True))
        db.session.commit()
        log.warning("poll cycle skipped: the previous one is still running")
        return {"skipped": True}
    try:
        return _cycle(started, config)
    finally:
        _release(token)


def _cycle(started, config):
    clock = time.monotonic()
    machines = db.session.scalars(select(Machine).where(
        Machine.polling_enabled.is_(True), Machine.data_url.is_not(None),
        Machine.status != "retired").order_by(Machine.id)).all()
    targets = [(m.id, m.data_url) for m in machines]
    db.session.rollback()  # no transaction held open while waiting on the network
    timeout = config["POLL_TIMEOUT_SECONDS"]
    with ThreadPoolExecutor(max_workers=max(1, min(config["POLL_CONCURRENCY"],
                                                   len(targets) or 1))) as pool:
        answers = list(pool.map(lambda t: (t[0], *fetch(t[1], timeout)), targets))
    stored, failures = _store_answers(answers)
    cycle = PollCycle(started_at=started, machines=len(targets), failures=failures,
                      stored=stored, duration_ms=int((time.monotonic() - clock) * 1000))
    db.session.add(cycle)
    db.session.commit()
    log.info("poll cycle: %s machines, %s failed, %s readings stored, %s ms",
             cycle.machines, failures, stored, cycle.duration_ms)
    return {"machines": cycle.machines, "failures": failures, "stored": stored,
            "duration_ms": cycle.duration_ms}


def _store_answers(answers):
    """Ingest every machine's readings; mark the ones that failed. Returns (stored, failed)."""
    now = utcnow()
    stored = failures = 0
    for machine_id, readings, error in answers:
        machine = db.session.get(Machine, machine_id)
        if machine is None:
            continue
        if readings is not None:
            result = telemetry.ingest(readings, source="poll", machine=machine, now=now)
            stored += result.stored
            if result.rejected:
                error = "rejected: " + "; ".join(result.rejected[0]["reasons"])
        _mark_polled(machine, now, error)
        failures += error is not None
    return stored, failures


def _mark_polled(machine, now, error):
    state = db.session.get(MachineState, machine.id)
    if state is None:
        state = MachineState(machine_id=machine.id, values={}, trend=[], readings_stored=0,
                             readings_unchanged=0, poll_failures=0)
        db.session.add(state)
    state.last_polled_at = now
    if error is None:
        state.reachable, state.last_error, state.poll_failures = True, None, 0
        return
    was_reachable = state.reachable
    state.reachable, state.last_error = False, error
    state.poll_failures = (state.poll_failures or 0) + 1
    if was_reachable is not False:
        publish_after_commit("telemetry.updated", ids=[machine.id])
