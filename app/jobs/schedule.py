"""Recurring jobs for `rq cron --url $REDIS_URL app/jobs/schedule.py`.

rq cron loads this file by path, so the project root must be importable first.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from rq import cron

from app.jobs.alerts import check_offline_machines
from app.jobs.andon import escalate_andon_calls
from app.jobs.housekeeping import ensure_reading_partitions, prune_login_attempts, remove_orphaned_uploads
from app.jobs.maintenance import make_due_maintenance_tasks
from app.jobs.polling import poll_machines
from app.jobs.rollups import roll_up_readings

QUEUE = os.environ.get("RQ_QUEUE", "floorline")
POLL_INTERVAL = int(os.environ.get("POLL_INTERVAL_SECONDS", "20"))
ROLLUP_INTERVAL = int(os.environ.get("ROLLUP_INTERVAL_SECONDS", "60"))

cron.register(poll_machines, queue_name=QUEUE, interval=POLL_INTERVAL,
              job_timeout=POLL_INTERVAL * 10)
cron.register(prune_login_attempts, queue_name=QUEUE, interval=3600)
cron.register(ensure_reading_partitions, queue_name=QUEUE, interval=6 * 3600)
cron.register(remove_orphaned_uploads, queue_name=QUEUE, interval=3600)
cron.register(make_due_maintenance_tasks, queue_name=QUEUE, interval=60)
cron.register(escalate_andon_calls, queue_name=QUEUE, interval=30)
cron.register(check_offline_machines, queue_name=QUEUE, interval=POLL_INTERVAL)
# Late readings and each finished hour reach the roll-ups within a minute.
cron.register(roll_up_readings, queue_name=QUEUE, interval=ROLLUP_INTERVAL, job_timeout=600)
