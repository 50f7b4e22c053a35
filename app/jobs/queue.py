"""Enqueue RQ jobs only once the rows they read are committed.

A job enqueued inside a transaction could start before the commit and find nothing, or
run for a row that was rolled back.
"""

import logging

from redis.exceptions import RedisError

from app.core.after_commit import after_commit
from app.core.extensions import job_queue

log = logging.getLogger(__name__)


def enqueue_after_commit(func_path, *args, **options):
    """Queue `func_path(*args)` (a dotted name; args are ids) once the session commits."""
    after_commit(_enqueue, func_path, args, options)


def _enqueue(func_path, args, options):
    try:
        job_queue().enqueue(func_path, *args, **options)
    except RedisError:
        # The row is safe in the database; the job can be re-run from its page.
        log.warning("could not enqueue %s%r: Redis unavailable", func_path, args,
                    exc_info=True)
