"""Entry point for gunicorn (`wsgi:app`) and the Flask CLI (`flask --app wsgi`)."""

import gc

from app import create_app

app = create_app()

# Everything loaded so far lives as long as the process; moving it out of the collector's
# sight halves the plant page's p95 (garbage collection of 500 tiles' objects scanned the
# whole heap; see docs/PERFORMANCE.md).
gc.collect()
gc.freeze()
