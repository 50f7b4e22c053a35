"""The RQ worker class the Procfile runs: forks work horses from a warm parent.

RQ's default worker forks a fresh child for every job and the child imports the job's
module on first use, so each job paid for importing Floorline and building the app
(about 3.5 s on the demo machine: four recurring jobs kept one worker busy half of every
minute). This worker imports every job module and builds the app once, before the first
fork; each child starts with both in memory and only opens its own database connections.
"""

import importlib

from rq.worker import Worker

JOB_MODULES = ("ai", "alerts", "andon", "housekeeping", "maintenance", "ocr", "polling",
               "production", "rollups")


class WarmWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from . import worker_app

        for name in JOB_MODULES:
            importlib.import_module(f"app.jobs.{name}")
        worker_app()

    def main_work_horse(self, job, queue):
        # A pooled connection the parent may hold must never be shared with a child.
        from app.core.extensions import db

        from . import worker_app

        with worker_app().app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)
        super().main_work_horse(job, queue)
