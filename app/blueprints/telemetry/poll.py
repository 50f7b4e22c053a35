"""The 20-second poll: fetch every polled machine's data URL and ingest what comes back.

A cycle hands every answer to ingest() in one call, each reading tagged with its machine as
the batch webhook and MQTT do, and writes every machine's outcome (reachable, last error,
failures) in one statement: its cost in statements does not grow with the machines.

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
from sqlalchemy import case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.blueprints.machines.lookup import machine_lookup
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
    """Hand every answered reading to ingest() at once, then write every machine's poll
    outcome in one statement. Returns (stored, failed)."""
    now = utcnow()
    machines = _machines([machine_id for machine_id, _, _ in answers])
    # A machine deleted while the cycle waited on the network is left out.
    answers = [answer for answer in answers if answer[0] in machines]
    readings, origins = _tagged(answers, machines)
    result = telemetry.ingest(readings, source="poll", now=now)
    errors = {machine_id: error for machine_id, _, error in answers}
    for rejection in result.rejected:
        machine_id = origins[rejection["index"]]
        # A machine's first rejected reading says what is wrong with its answers.
        errors[machine_id] = errors[machine_id] or "rejected: " + "; ".join(rejection["reasons"])
    _mark_polled(errors, now)
    return result.stored, sum(error is not None for error in errors.values())


def _machines(ids):
    """The machines from the registry snapshot (checked: one small query per cycle)."""
    snapshot = machine_lookup().fresh()
    return {i: snapshot.by_id[i] for i in ids if i in snapshot.by_id}


def _tagged(answers, machines):
    """Every answered reading with its machine's code, and the machine id of each."""
    readings, origins = [], []
    for machine_id, answered, _ in answers:
        code = machines[machine_id].code
        for raw in answered or ():
            readings.append(dict(raw, machine=code) if isinstance(raw, dict) else raw)
            origins.append(machine_id)
    return readings, origins


def _mark_polled(errors, now):
    """Write every machine's outcome (its error, or None) and announce the machines that
    have just stopped answering."""
    failed = [machine_id for machine_id, error in errors.items() if error is not None]
    newly_down = sorted(set(failed) - _down_already(failed))
    if errors:
        db.session.execute(_outcomes(errors, now))
    if newly_down:
        publish_after_commit("telemetry.updated", ids=newly_down)


def _down_already(machine_ids):
    if not machine_ids:
        return set()
    return set(db.session.scalars(select(MachineState.machine_id).where(
        MachineState.machine_id.in_(machine_ids), MachineState.reachable.is_(False))))


def _outcomes(errors, now):
    """One upsert for the whole cycle, so its state writes do not grow with its machines;
    a machine never heard from before gets its state row here."""
    dialect = db.session.get_bind().dialect.name
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(MachineState).values([
        {"machine_id": machine_id, "values": {}, "trend": [], "readings_stored": 0,
         "readings_unchanged": 0, "reachable": error is None, "last_error": error,
         "poll_failures": int(error is not None), "last_polled_at": now}
        for machine_id, error in sorted(errors.items())])  # in id order, as ingest locks
    return stmt.on_conflict_do_update(index_elements=[MachineState.machine_id], set_={
        "reachable": stmt.excluded.reachable, "last_error": stmt.excluded.last_error,
        "last_polled_at": stmt.excluded.last_polled_at,
        "poll_failures": case((stmt.excluded.last_error.is_(None), 0),
                              else_=MachineState.poll_failures + 1)})
