"""Side effects that must wait for the commit: live events, RQ jobs.

Queued on the session; run only if it commits, dropped if it rolls back, so nobody is told
about (and no job reads) a row that never existed.
"""

import logging

from flask_sqlalchemy.session import Session
from sqlalchemy import event

from .extensions import db

log = logging.getLogger(__name__)
PENDING = "floorline_after_commit"


def after_commit(fn, *args):
    db.session.info.setdefault(PENDING, []).append((fn, args))


def pending(session=None):
    return (session or db.session).info.get(PENDING, [])


def _run(session):
    for fn, args in session.info.pop(PENDING, []):
        fn(*args)


def _drop(session):
    session.info.pop(PENDING, None)


def init_after_commit():
    if not event.contains(Session, "after_commit", _run):
        event.listen(Session, "after_commit", _run)
        event.listen(Session, "after_rollback", _drop)
