"""The checks of /health/detailed: each measures one thing and compares it to a threshold.

Every check returns a Check whose status is ok, warn or fail; the page and the JSON show
the measured value next to the threshold so the person on call sees how far off it is.
Thresholds come from config (HEALTH_*), see docs/OPERATIONS.md.
"""

import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.registry import FailedJobRegistry
from sqlalchemy import func, select, text
from sqlalchemy.exc import SQLAlchemyError

from app.blueprints.telemetry.models import PollCycle, RollupWatermark
from app.blueprints.telemetry.rollups import WATERMARK
from app.core.extensions import db, redis_client

OK, WARN, FAIL = "ok", "warn", "fail"
RANK = {OK: 0, WARN: 1, FAIL: 2}


@dataclass
class Check:
    name: str
    label: str
    status: str
    value: str
    threshold: str
    detail: str = ""

    def as_dict(self):
        return asdict(self)


def worst(statuses):
    return max(statuses, key=RANK.__getitem__, default=OK)


def graded(value, warn, fail):
    """ok below `warn`, warn from `warn`, fail from `fail` (higher is worse)."""
    if value >= fail:
        return FAIL
    return WARN if value >= warn else OK


def _cfg(name):
    return current_app.config[name]


def _ago(seconds):
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _age(moment):
    return (datetime.now(UTC) - moment).total_seconds()


# --- readiness: the two the load balancer needs -----------------------------------------

def database_ok():
    try:
        db.session.execute(text("SELECT 1"))
        return None
    except SQLAlchemyError as exc:
        db.session.rollback()
        return exc.__class__.__name__


def redis_ok():
    try:
        redis_client().ping()
        return None
    except RedisError as exc:
        return exc.__class__.__name__


# --- the detailed checks ------------------------------------------------------------------

def _latency(name, label, probe, prefix):
    warn, fail = _cfg(f"{prefix}_WARN_MS"), _cfg(f"{prefix}_FAIL_MS")
    threshold = f"warn ≥ {warn} ms, fail ≥ {fail} ms"
    started = time.perf_counter()
    error = probe()
    took = (time.perf_counter() - started) * 1000
    if error:
        return Check(name, label, FAIL, "unreachable", threshold, error)
    return Check(name, label, graded(took, warn, fail), f"{took:.1f} ms", threshold)


def check_database():
    return _latency("database", "Database latency", database_ok, "HEALTH_DB_LATENCY")


def check_redis():
    return _latency("redis", "Redis latency", redis_ok, "HEALTH_REDIS_LATENCY")


def check_migrations():
    label, threshold = "Migrations", "current = head"
    script = ScriptDirectory(current_app.extensions["migrate"].directory)
    heads = set(script.get_heads())
    try:
        current = set(MigrationContext.configure(db.session.connection()).get_current_heads())
    except SQLAlchemyError as exc:
        db.session.rollback()
        return Check("migrations", label, FAIL, "unreadable", threshold, exc.__class__.__name__)
    value = ", ".join(sorted(current)) or "none (empty database)"
    if current == heads:
        return Check("migrations", label, OK, value, threshold)
    return Check("migrations", label, FAIL, value, threshold,
                 f"head is {', '.join(sorted(heads))}: run `flask db upgrade`")


def _queue():
    return Queue(_cfg("RQ_QUEUE"), connection=redis_client())


def check_workers():
    label = "RQ workers"
    warn, fail = _cfg("HEALTH_WORKER_HEARTBEAT_WARN_SECONDS"), \
        _cfg("HEALTH_WORKER_HEARTBEAT_FAIL_SECONDS")
    threshold = f"≥ 1 worker; heartbeat warn ≥ {warn} s, fail ≥ {fail} s"
    workers = Worker.all(queue=_queue())
    if not workers:
        return Check("workers", label, FAIL, "none", threshold,
                     f"no worker listens on queue {_cfg('RQ_QUEUE')!r}")
    ages = sorted((_age(w.last_heartbeat) if w.last_heartbeat else float("inf"), w.name)
                  for w in workers)
    alive = [age for age, _name in ages if age < fail]
    status = OK if alive else FAIL
    if alive and graded(ages[0][0], warn, fail) != OK:
        status = WARN
    if alive and len(alive) < len(ages):
        status = WARN  # one stopped, others still working
    detail = "; ".join(f"{name}: last heartbeat {_ago(age)}" for age, name in ages)
    return Check("workers", label, status, f"{len(alive)} of {len(ages)} alive", threshold,
                 detail)


def check_queue():
    warn, fail = _cfg("HEALTH_QUEUE_WARN"), _cfg("HEALTH_QUEUE_FAIL")
    depth = len(_queue())
    return Check("queue", f"Jobs waiting ({_cfg('RQ_QUEUE')})", graded(depth, warn, fail),
                 str(depth), f"warn ≥ {warn}, fail ≥ {fail}")


def check_failed_jobs():
    warn, fail = _cfg("HEALTH_FAILED_JOBS_WARN"), _cfg("HEALTH_FAILED_JOBS_FAIL")
    registry = FailedJobRegistry(queue=_queue())
    count = registry.count
    detail = ""
    if count:
        detail = "newest: " + ", ".join(registry.get_job_ids(0, 4))
    return Check("failed_jobs", "Failed jobs", graded(count, warn, fail), str(count),
                 f"warn ≥ {warn}, fail ≥ {fail}", detail)


def _our_schedulers(connection):
    """rq cron schedulers enqueueing into our queue (others may share the Redis)."""
    queue = _cfg("RQ_QUEUE")
    return [s for s in CronScheduler.all(connection, cleanup=False)
            if any(job.queue_name == queue for job in s.get_jobs())]


def check_scheduler():
    """`rq cron` keeps its own heartbeat: a sorted set of schedulers scored by their last
    beat, refreshed after every loop (at least once per shortest interval, 20 s)."""
    label = "Cron scheduler"
    warn, fail = _cfg("HEALTH_SCHEDULER_WARN_SECONDS"), _cfg("HEALTH_SCHEDULER_FAIL_SECONDS")
    threshold = f"heartbeat warn ≥ {warn} s, fail ≥ {fail} s"
    schedulers = _our_schedulers(redis_client())
    beats = [(s.last_heartbeat, s.name) for s in schedulers]
    beats = sorted(((_age(beat), name) for beat, name in beats if beat), key=lambda b: b[0])
    if not beats:
        return Check("scheduler", label, FAIL, "none", threshold,
                     "no `rq cron` process registered for this queue")
    age, name = beats[0]
    return Check("scheduler", label, graded(age, warn, fail), f"beat {_ago(age)}", threshold,
                 f"{name}" + (f" (+{len(beats) - 1} more)" if len(beats) > 1 else ""))


def check_poll():
    label = "Last poll cycle"
    interval = _cfg("POLL_INTERVAL_SECONDS")
    warn = interval * _cfg("HEALTH_POLL_WARN_INTERVALS")
    fail = interval * _cfg("HEALTH_POLL_FAIL_INTERVALS")
    threshold = f"warn ≥ {warn} s, fail ≥ {fail} s"
    last = db.session.scalar(select(func.max(PollCycle.started_at)))
    if last is None:
        return Check("poll", label, WARN, "never", threshold, "no poll cycle recorded yet")
    age = _age(last)
    return Check("poll", label, graded(age, warn, fail), _ago(age), threshold)


def check_rollups():
    """How far behind the roll-up job is: readings received before its watermark are
    rolled up, so the watermark's age is the lag (about one ROLLUP interval when well)."""
    label = "Roll-up lag"
    warn, fail = _cfg("HEALTH_ROLLUP_WARN_SECONDS"), _cfg("HEALTH_ROLLUP_FAIL_SECONDS")
    threshold = f"warn ≥ {warn} s, fail ≥ {fail} s"
    mark = db.session.get(RollupWatermark, WATERMARK)
    if mark is None:
        return Check("rollups", label, WARN, "never", threshold, "the roll-up job has not run")
    lag = _age(mark.received_to)
    return Check("rollups", label, graded(lag, warn, fail), f"{lag:.0f} s", threshold)


def check_sockets():
    warn = _cfg("HEALTH_SOCKETS_WARN")
    hub = current_app.extensions.get("floorline_hub")
    count = len(hub.subscriptions) if hub is not None else 0
    return Check("sockets", "Open sockets (this process)", graded(count, warn, float("inf")),
                 str(count), f"warn ≥ {warn}",
                 f"web process {os.getpid()}; each gunicorn worker counts its own")


def _disk(name, label, path):
    warn, fail = _cfg("HEALTH_DISK_WARN_PERCENT"), _cfg("HEALTH_DISK_FAIL_PERCENT")
    threshold = f"free warn ≤ {warn} %, fail ≤ {fail} %"
    try:
        usage = shutil.disk_usage(path)
    except OSError as exc:
        return Check(name, label, FAIL, "missing", threshold, f"{path}: {exc.strerror}")
    free = usage.free / usage.total * 100
    status = FAIL if free <= fail else WARN if free <= warn else OK
    return Check(name, label, status, f"{free:.1f} % ({usage.free / 2**30:.1f} GiB)",
                 threshold, path)


def check_uploads_disk():
    return _disk("uploads_disk", "Free disk, uploads", _cfg("UPLOAD_DIR"))


def check_instance_disk():
    return _disk("instance_disk", "Free disk, instance folder", current_app.instance_path)


def version():
    """FLOORLINE_VERSION when the build sets it, else `git describe` once per process."""
    found = current_app.extensions.get("floorline_version")
    if found is None:
        found = current_app.config["FLOORLINE_VERSION"] or _git_describe()
        current_app.extensions["floorline_version"] = found
    return found


def _git_describe():
    root = os.path.dirname(current_app.root_path)
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=root,
                             capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def check_version():
    found = version()
    if not found:
        return Check("version", "Version", WARN, "unknown", "known",
                     "set FLOORLINE_VERSION at build time")
    return Check("version", "Version", OK, found, "known")


CHECKS = (check_database, check_redis, check_migrations, check_workers, check_queue,
          check_failed_jobs, check_scheduler, check_poll, check_rollups, check_sockets,
          check_uploads_disk, check_instance_disk, check_version)
REDIS_CHECKS = {check_workers, check_queue, check_failed_jobs, check_scheduler}


def run_all():
    """Every check; a Redis outage fails the Redis-backed ones instead of the page."""
    results = []
    for check in CHECKS:
        try:
            results.append(check())
        except RedisError as exc:
            if check not in REDIS_CHECKS:
                raise
            name = check.__name__.removeprefix("check_")
            results.append(Check(name, name.replace("_", " ").capitalize(), FAIL,
                                 "unreachable", "Redis reachable", exc.__class__.__name__))
    return worst(r.status for r in results), results
