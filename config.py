"""Configuration read from the environment; see README "Configuration"."""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def sqlalchemy_url(url):
    """Pin PostgreSQL URLs to psycopg2: SQLAlchemy 2.1 defaults to psycopg 3, not installed.

    Heroku-style postgres:// URLs are accepted too.
    """
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    return url


def _database_url():
    url = os.environ.get("DATABASE_URL")
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'floorline.db'}"
    return sqlalchemy_url(url)


def _int(name, default):
    return int(os.environ.get(name, default))


def _engine_options(url):
    """A web process under gevent serves hundreds of sockets that each briefly need a
    connection when they open (session, badges, banner, resync): a wall of screens coming
    back after a restart outran the default pool (5 + 10, 30 s wait). PostgreSQL only;
    2 web processes × 30 stay well under its default 100 connections."""
    options = {"pool_pre_ping": True}
    if url.startswith("postgresql"):
        options.update(pool_size=_int("DB_POOL_SIZE", 10),
                       max_overflow=_int("DB_MAX_OVERFLOW", 20),
                       pool_timeout=_int("DB_POOL_TIMEOUT", 60))
    return options


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = _database_url()
    SQLALCHEMY_ENGINE_OPTIONS = _engine_options(SQLALCHEMY_DATABASE_URI)
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    RQ_QUEUE = os.environ.get("RQ_QUEUE", "floorline")
    LIVE_CHANNEL_PREFIX = os.environ.get("LIVE_CHANNEL_PREFIX", "live")

    # A shift is at most 12 hours; a tablet left logged in overnight must log in again.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=_int("SESSION_HOURS", 12))
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = os.environ.get("SESSION_COOKIE_SECURE", "0") == "1"
    WTF_CSRF_TIME_LIMIT = None  # tied to the session instead, which expires anyway

    LOGIN_MAX_FAILURES_PER_USER = _int("LOGIN_MAX_FAILURES_PER_USER", 5)
    LOGIN_MAX_FAILURES_PER_ADDRESS = _int("LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
    LOGIN_LOCKOUT_MINUTES = _int("LOGIN_LOCKOUT_MINUTES", 15)
    PASSWORD_MIN_LENGTH = _int("PASSWORD_MIN_LENGTH", 10)

    PAGE_SIZE = _int("PAGE_SIZE", 25)
    # API bearer tokens (docs/api.md): signed with JWT_SECRET_KEY, or SECRET_KEY if unset.
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY", "")
    API_ACCESS_TOKEN_MINUTES = _int("API_ACCESS_TOKEN_MINUTES", 15)
    API_REFRESH_TOKEN_HOURS = _int("API_REFRESH_TOKEN_HOURS", 12)
    # Calls a minute (docs/api.md "Rate limits"): per user or API key; per address for
    # calls without a valid credential; the ingest webhook per sending address (0: none,
    # the default — readings must never be dropped by a limit the plant did not set).
    API_RATE_LIMIT_PER_MINUTE = _int("API_RATE_LIMIT_PER_MINUTE", 600)
    API_ANONYMOUS_RATE_LIMIT_PER_MINUTE = _int("API_ANONYMOUS_RATE_LIMIT_PER_MINUTE", 60)
    API_INGEST_RATE_LIMIT_PER_MINUTE = _int("API_INGEST_RATE_LIMIT_PER_MINUTE", 0)
    # How long the first answer to an Idempotency-Key is kept for a retry.
    API_IDEMPOTENCY_HOURS = _int("API_IDEMPOTENCY_HOURS", 24)
    # Rate-limit counters and idempotency records live in Redis under this prefix.
    API_REDIS_PREFIX = os.environ.get("API_REDIS_PREFIX", "floorline:api")
    # Ten 10 MB photos in one form, with room to spare; anything bigger is refused before
    # Werkzeug spools it to disk.
    MAX_CONTENT_LENGTH = _int("MAX_CONTENT_LENGTH", 110 * 1024 * 1024)
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    # Behind a proxy the client address comes from X-Forwarded-For (login throttling).
    TRUSTED_PROXIES = _int("TRUSTED_PROXIES", 0)
    PASSWORD_HASH_METHOD = "scrypt"

    # Telemetry. A batch webhook is signed with the plant-wide INGEST_KEY (unset: batches
    # are refused); a single reading with its machine's own webhook secret.
    INGEST_KEY = os.environ.get("INGEST_KEY", "")
    INGEST_MAX_BATCH = _int("INGEST_MAX_BATCH", 5000)
    INGEST_MAX_BYTES = _int("INGEST_MAX_BYTES", 8 * 1024 * 1024)
    POLL_INTERVAL_SECONDS = _int("POLL_INTERVAL_SECONDS", 20)
    POLL_TIMEOUT_SECONDS = float(os.environ.get("POLL_TIMEOUT_SECONDS", "5"))
    POLL_CONCURRENCY = _int("POLL_CONCURRENCY", 32)
    # The vendor API where `machines subscribe` registers our webhook (the simulator's in
    # the demo); PUBLIC_BASE_URL + /api/v1/ingest is the callback it is given.
    # The demo's simulator listens here (two checkouts on one machine set different ports).
    SIMULATOR_PORT = _int("SIMULATOR_PORT", 8100)
    VENDOR_API_URL = os.environ.get("VENDOR_API_URL", f"http://127.0.0.1:{SIMULATOR_PORT}")
    MQTT_URL = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883")
    MQTT_TOPIC_PREFIX = os.environ.get("MQTT_TOPIC_PREFIX", "floorline")

    # Logbook photos and videos: stored under random names outside static/, served only
    # to people who may see the issue.
    UPLOAD_DIR = os.environ.get("UPLOAD_DIR", str(INSTANCE_DIR / "uploads"))
    UPLOAD_MAX_BYTES = _int("UPLOAD_MAX_BYTES", 10 * 1024 * 1024)
    UPLOAD_MAX_PER_ISSUE = _int("UPLOAD_MAX_PER_ISSUE", 10)
    # OCR of alarm photos (an RQ job); a missing binary marks the photo "skipped".
    TESSERACT_CMD = os.environ.get("TESSERACT_CMD", "tesseract")
    OCR_TIMEOUT_SECONDS = float(os.environ.get("OCR_TIMEOUT_SECONDS", "30"))

    # AI titles and summaries for logbook issues. No key: the job is skipped and says so.
    # OPENAI_BASE_URL points at any OpenAI-compatible server (empty: api.openai.com).
    OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")
    OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
    OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    OPENAI_TIMEOUT = float(os.environ.get("OPENAI_TIMEOUT", "20"))

    # Production (docs/oee.md). Shifts are wall-clock times in the plant's zone; everything
    # is stored in UTC. A stop shorter than the small-stop threshold is a performance loss
    # (the line still counts as running), a longer one an availability loss.
    PLANT_TIMEZONE = os.environ.get("PLANT_TIMEZONE", "Europe/Berlin")
    SMALL_STOP_SECONDS = _int("SMALL_STOP_SECONDS", 300)

    # Health (docs/OPERATIONS.md). /health/detailed answers admins, or a monitoring system
    # sending `Authorization: Bearer <HEALTH_TOKEN>` (empty: only admins).
    HEALTH_TOKEN = os.environ.get("HEALTH_TOKEN", "")
    FLOORLINE_VERSION = os.environ.get("FLOORLINE_VERSION", "")  # else `git describe`
    HEALTH_DB_LATENCY_WARN_MS = _int("HEALTH_DB_LATENCY_WARN_MS", 100)
    HEALTH_DB_LATENCY_FAIL_MS = _int("HEALTH_DB_LATENCY_FAIL_MS", 1000)
    HEALTH_REDIS_LATENCY_WARN_MS = _int("HEALTH_REDIS_LATENCY_WARN_MS", 50)
    HEALTH_REDIS_LATENCY_FAIL_MS = _int("HEALTH_REDIS_LATENCY_FAIL_MS", 500)
    # An idle RQ worker beats every 405 s (its 420 s TTL less 15); busy, far more often.
    HEALTH_WORKER_HEARTBEAT_WARN_SECONDS = _int("HEALTH_WORKER_HEARTBEAT_WARN_SECONDS", 450)
    HEALTH_WORKER_HEARTBEAT_FAIL_SECONDS = _int("HEALTH_WORKER_HEARTBEAT_FAIL_SECONDS", 600)
    HEALTH_QUEUE_WARN = _int("HEALTH_QUEUE_WARN", 100)
    HEALTH_QUEUE_FAIL = _int("HEALTH_QUEUE_FAIL", 1000)
    HEALTH_FAILED_JOBS_WARN = _int("HEALTH_FAILED_JOBS_WARN", 10)
    HEALTH_FAILED_JOBS_FAIL = _int("HEALTH_FAILED_JOBS_FAIL", 100)
    # `rq cron` beats after each loop, at least every 20 s; its record expires after 120 s.
    HEALTH_SCHEDULER_WARN_SECONDS = _int("HEALTH_SCHEDULER_WARN_SECONDS", 60)
    HEALTH_SCHEDULER_FAIL_SECONDS = _int("HEALTH_SCHEDULER_FAIL_SECONDS", 110)
    HEALTH_POLL_WARN_INTERVALS = _int("HEALTH_POLL_WARN_INTERVALS", 3)   # × POLL_INTERVAL
    HEALTH_POLL_FAIL_INTERVALS = _int("HEALTH_POLL_FAIL_INTERVALS", 10)
    HEALTH_ROLLUP_WARN_SECONDS = _int("HEALTH_ROLLUP_WARN_SECONDS", 300)
    HEALTH_ROLLUP_FAIL_SECONDS = _int("HEALTH_ROLLUP_FAIL_SECONDS", 1800)
    HEALTH_SOCKETS_WARN = _int("HEALTH_SOCKETS_WARN", 1500)  # per web process
    HEALTH_DISK_WARN_PERCENT = _int("HEALTH_DISK_WARN_PERCENT", 15)
    HEALTH_DISK_FAIL_PERCENT = _int("HEALTH_DISK_FAIL_PERCENT", 5)


class TestConfig(Config):
    TESTING = True
    SECRET_KEY = "test-secret"
    JWT_SECRET_KEY = "test-jwt-key-long-enough-for-hmac-sha256"
    SQLALCHEMY_DATABASE_URI = sqlalchemy_url(os.environ.get("TEST_DATABASE_URL", "")) or _database_url()
    REDIS_URL = os.environ.get("TEST_REDIS_URL", os.environ.get("REDIS_URL", Config.REDIS_URL))
    # Two test runs on one Redis (parallel checkouts) must not hear each other's events.
    RQ_QUEUE = os.environ.get("TEST_RQ_QUEUE", "floorline-test")
    LIVE_CHANNEL_PREFIX = os.environ.get("TEST_LIVE_CHANNEL_PREFIX", "test-live")
    WTF_CSRF_ENABLED = True
    # Scrypt at full cost makes every factory user take ~50 ms; tests don't need the cost.
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
    INGEST_KEY = "test-ingest-key"
    # A test run's counters and idempotency records are its own (the workers share one
    # Redis, and ids restart with every fresh schema); limits high enough that only the
    # tests of rate limiting, which lower them, ever meet one.
    API_REDIS_PREFIX = f"{LIVE_CHANNEL_PREFIX}:api:{os.urandom(4).hex()}"
    API_RATE_LIMIT_PER_MINUTE = 1_000_000
    API_ANONYMOUS_RATE_LIMIT_PER_MINUTE = 1_000_000
    # Nothing listens on port 9: a test that forgets to start its own vendor fails fast
    # instead of subscribing at a simulator a developer has running.
    VENDOR_API_URL = "http://127.0.0.1:9"
    # Uploads from tests never land in the developer's instance/ folder.
    UPLOAD_DIR = os.path.join(tempfile.gettempdir(), f"floorline-test-uploads-{os.getuid()}")
    # A developer's key never reaches the tests; the AI tests start their own server.
    OPENAI_API_KEY = ""
    OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
