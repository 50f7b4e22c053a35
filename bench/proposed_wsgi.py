"""WSGI entry for the prototype in bench/proposed.py: `--app bench.proposed_wsgi:app`."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from config import Config

from . import proposed  # noqa: F401  (patches the ingest functions)


class _Config(Config):
    # BENCH_NO_PING=1: no pool_pre_ping (a SELECT 1 round trip before each request's first
    # statement), to measure what that costs.
    SQLALCHEMY_ENGINE_OPTIONS = ({} if os.environ.get("BENCH_NO_PING") == "1"
                                 else Config.SQLALCHEMY_ENGINE_OPTIONS)


app = create_app(_Config)
