"""An RQ worker imports a job's module by its dotted name, first thing in a fresh process.

A circular import that the web process never meets (it loads the blueprints first) would
make every such job fail in the worker; so each job module is imported on its own here.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
JOB_MODULES = sorted(p.stem for p in (ROOT / "app" / "jobs").glob("*.py")
                     if p.stem not in ("__init__", "schedule"))


@pytest.mark.parametrize("module", JOB_MODULES)
def test_job_module_imports_in_a_fresh_interpreter(module):
    result = subprocess.run([sys.executable, "-c", f"import app.jobs.{module}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_cron_schedule_loads_like_rq_cron_loads_it():
    result = subprocess.run([sys.executable, "-c",
                             "import runpy; runpy.run_path('app/jobs/schedule.py')"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_warm_worker_imports_every_job_module():
    from app.jobs.worker import JOB_MODULES as WARMED

    assert set(WARMED) == set(JOB_MODULES) - {"queue", "worker"}


@pytest.mark.live
def test_the_procfile_worker_runs_a_job_in_a_forked_horse(app):
    """The Procfile's worker class, started as `rq worker` would start it, runs a real job."""
    import os

    from redis import Redis
    from rq import Queue

    redis_url = app.config["REDIS_URL"]
    queue = Queue("floorline-worker-test", connection=Redis.from_url(redis_url))
    job = queue.enqueue("app.jobs.housekeeping.prune_login_attempts")
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": redis_url}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--worker-class",
         "app.jobs.worker.WarmWorker", "--url", redis_url, queue.name],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    job.refresh()
    assert job.is_finished, result.stderr[-2000:]
    assert job.return_value() == 0
