"""An RQ worker imports a job's module by its dotted name, first thing in a fresh process.

A circular import that the web process never meets (it loads the blueprints first) would
make every such job fail in the worker; so each job module is imported on its own here.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
