"""Entry point for gunicorn (`wsgi:app`) and the Flask CLI (`flask --app wsgi`)."""

import gc

from app import create_app


def _cooperative_psycopg():
    """Under gunicorn's gevent worker (the Procfile's), let psycopg2 wait for PostgreSQL
    without blocking every other request and socket of the process. Threads (tests, the
    Flask CLI, rq) are left as they are."""
    try:
        from gevent import monkey
    except ImportError:
        return
    if monkey.is_module_patched("socket"):
        from psycogreen.gevent import patch_psycopg
        patch_psycopg()


_cooperative_psycopg()

app = create_app()

# Everything loaded so far lives as long as the process; moving it out of the collector's
# sight halves the plant page's p95 (garbage collection of 500 tiles' objects scanned the
# whole heap; see docs/PERFORMANCE.md).
gc.collect()
gc.freeze()
