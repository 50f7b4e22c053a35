"""The app as it is, plus `gc.freeze()` once it is built: `--app bench.freeze_wsgi:app`.

An experiment for docs/PERFORMANCE.md (R8): the ~190,000 objects that exist after start-up
(modules, SQLAlchemy mappers, templates) move out of the collector's reach, so the gen-2
collections that allocation-heavy requests (the plant page) trigger stop walking them.
"""

import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wsgi import app  # noqa: F401

gc.collect()
gc.freeze()
