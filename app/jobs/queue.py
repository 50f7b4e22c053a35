"""Enqueue RQ jobs only once the rows they read are committed.

A job enqueued inside a transaction could start before the commit and find nothing, or
run for a row that was rolled back; so jobs are queued on the session like live events.
"""

import logging

from flask_sqlalchemy.session import Session
from redis.exceptions import RedisError
from sqlalchemy import event

from app.extensions import db, job_queue

log = logging.getLogger(__name__)
PENDING = "floorline_pending_jobs"


def enqueue_after_commit(func_path, *args, **options):
    """Queue `func_path(*args)` (a dotted name; args are ids) once the session commits."""
    db.session.info.setdefault(PENDING, []).append((func_path, args, options))


def _after_commit(session):
    for func_path, args, options in session.info.pop(PENDING, []):
        try:
            job_queue().enqueue(func_path, *args, **options)
        except RedisError:
            # The row is safe in the database; the job can be re-run from the page.
            log.warning("could not enqueue %s%r: Redis unavailable", func_path, args,
                        exc_info=True)


def _after_rollback(session):
    session.info.pop(PENDING, None)


def init_job_queue():
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)

