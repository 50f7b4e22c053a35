"""Test set-up: real PostgreSQL and Redis, one rolled-back transaction per test.

Which servers: TEST_DATABASE_URL (used as given, emptied first), else DATABASE_URL (a
separate `<name>_test` database is made beside it, so a developer's data is never
touched), else a throwaway PostgreSQL started here if its binaries exist, else SQLite
(refused when FLOORLINE_REQUIRE_POSTGRES=1, as in CI). Redis: TEST_REDIS_URL, REDIS_URL,
else a throwaway redis-server. The header of the run says which were used.
Under pytest-xdist (`-n 2`) the controller chooses them and each worker takes a database
of its own beside the chosen one (`<name>_gw0` ...) and its own live channels and queue.
"""

import os
import re
import socket
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts import services as throwaway  # noqa: E402

CHOSEN = {}
# The make_* factories, Chromium and page fixtures for the browser tests, and the small
# plant of the production tests (not a tests/production/conftest.py: a second module named
# conftest would shadow this one for tests that import from it).
pytest_plugins = ["tests.factories", "tests.browser_support", "tests.production.plant"]


def _pg_test_url(url):
    parts = urlsplit(url)
    name = parts.path.lstrip("/") or "floorline"
    return urlunsplit(parts._replace(path=f"/{name}_test"))


def _choose_database(tmp):
    if os.environ.get("TEST_DATABASE_URL"):
        return os.environ["TEST_DATABASE_URL"], "given by TEST_DATABASE_URL"
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql")):
        server = urlunsplit(urlsplit(url)._replace(path="/postgres"))
        test_url = _pg_test_url(url)
        throwaway.create_database(server, urlsplit(test_url).path.lstrip("/"))
        return test_url, "made beside DATABASE_URL"
    if throwaway.postgres_available():
        server = throwaway.start_postgres(tmp / "pg")
        return throwaway.create_database(server.url, "floorline_test"), "throwaway server"
    if os.environ.get("FLOORLINE_REQUIRE_POSTGRES") == "1":
        raise pytest.UsageError("FLOORLINE_REQUIRE_POSTGRES=1 but no PostgreSQL is "
                                "configured (TEST_DATABASE_URL/DATABASE_URL) or installed.")
    return f"sqlite:///{tmp / 'floorline-test.db'}", "SQLite file (no PostgreSQL found)"


def _choose_redis(tmp):
    for name in ("TEST_REDIS_URL", "REDIS_URL"):
        if os.environ.get(name):
            return os.environ[name], f"given by {name}"
    server = throwaway.start_redis(tmp / "redis")
    return server.url, "throwaway server"


def _worker_database(url, worker):
    """An empty database of the worker's own beside the chosen one (`<name>_gw0`)."""
    if url.startswith("sqlite"):
        return url.removesuffix(".db") + f"-{worker}.db"
    parts = urlsplit(url)
    server = urlunsplit(parts._replace(path="/postgres"))
    return throwaway.create_database(server, f"{parts.path.lstrip('/')}_{worker}")


def _configure_worker(worker):
    """A pytest-xdist worker: the controller chose the servers (the environment carries
    them); the worker takes its own database, live channels and job queue on them."""
    db_url = _worker_database(os.environ["TEST_DATABASE_URL"], worker)
    os.environ["TEST_DATABASE_URL"] = db_url
    for name, default in (("TEST_LIVE_CHANNEL_PREFIX", "test-live"),
                          ("TEST_RQ_QUEUE", "floorline-test")):
        os.environ[name] = f"{os.environ.get(name, default)}-{worker}"
    CHOSEN.update(db_url=db_url, db_how=f"of xdist worker {worker}",
                  redis_url=os.environ["TEST_REDIS_URL"], redis_how="chosen by the controller")


# Files whose tests take the app's one poll lock (a fixed Redis key): under pytest-xdist
# they share a worker, so two of them never hold or clear the lock at the same time.
POLL_LOCK_FILES = {"tests/telemetry/test_polling.py", "tests/simulator/test_simulator.py"}


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """Whole files to a worker (whatever --dist says), the poll-lock files to one worker.

    xdist's own --dist loadgroup would do the latter by marker, but it renames test ids in
    a way pytest 9 no longer honours.
    """
    from xdist.scheduler import LoadFileScheduling

    class ByFile(LoadFileScheduling):
        def _split_scope(self, nodeid):
            path = super()._split_scope(nodeid)
            return "poll-lock" if path in POLL_LOCK_FILES else path
    return ByFile(config, log)


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        _configure_worker(config.workerinput["workerid"])
        return
    tmp = Path(config.rootpath) / ".pytest_cache" / "servers"
    tmp.mkdir(parents=True, exist_ok=True)
    db_url, db_how = _choose_database(tmp)
    redis_url, redis_how = _choose_redis(tmp)
    # config.TestConfig reads these when it is first imported, which is after this hook.
    os.environ["TEST_DATABASE_URL"] = db_url
    os.environ["TEST_REDIS_URL"] = redis_url
    CHOSEN.update(db_url=db_url, db_how=db_how, redis_url=redis_url, redis_how=redis_how)


def _describe_database(config):
    url = CHOSEN["db_url"]
    if url.startswith("sqlite"):
        described = f"SQLite {url}"
    else:
        parts = urlsplit(url)
        described = f"PostgreSQL {parts.hostname}:{parts.port or 5432}{parts.path}"
    if getattr(config.option, "dist", "no") != "no":
        described += " (each xdist worker on its own copy, _gw0 ...)"
    return described


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With FLOORLINE_NO_SKIPS=1 (CI) a skipped test fails: there a skip only ever means a
    missing dependency (Chromium, Tesseract, the MQTT broker), which must not pass unseen."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and not hasattr(report, "wasxfail") \
            and os.environ.get("FLOORLINE_NO_SKIPS") == "1":
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome, report.longrepr = "failed", f"skipped where CI must run it: {reason}"


def pytest_report_header(config):
    return [f"database: {_describe_database(config)} ({CHOSEN['db_how']})",
            f"redis: {CHOSEN['redis_url']} ({CHOSEN['redis_how']})"]


def pytest_terminal_summary(terminalreporter, config):
    terminalreporter.write_line(f"Ran on {_describe_database(config)} and Redis "
                                f"{CHOSEN['redis_url']}.", bold=True)


# --- the app and its schema ----------------------------------------------------------------

def _empty_schema(engine):
    from sqlalchemy import text
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    if engine.dialect.name == "sqlite" and engine.url.database:
        engine.dispose()
        Path(engine.url.database).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def app():
    from flask_migrate import upgrade

    from app import create_app
    from app.core.extensions import db
    from config import TestConfig

    application = create_app(TestConfig)
    application.test_client_class = FreshContextClient
    with application.app_context():
        _empty_schema(db.engine)
        upgrade()  # the migrations, not create_all: tests prove they build the schema
    yield application
    hub = application.extensions.get("floorline_hub")
    if hub is not None:
        hub.stop()


@pytest.fixture(autouse=True)
def _rolled_back(request, app):
    """Every test runs in a transaction that is rolled back; services may commit freely.

    Tests marked `live` (a real server thread) commit for real and are emptied afterwards.
    """
    from app.core.extensions import db

    if request.node.get_closest_marker("live"):
        ctx = app.app_context()
        ctx.push()
        yield
        db.session.remove()
        _truncate_all(db)
        ctx.pop()
        return
    ctx = app.app_context()
    ctx.push()
    connection = db.engine.connect()
    outer = connection.begin()
    engines = db.engines
    real_engine = engines[None]
    # Flask-SQLAlchemy 3 picks db.engines[None] over a session-level bind, so the
    # connection holding the outer transaction takes the engine's place.
    engines[None] = connection
    db.session.configure(join_transaction_mode="create_savepoint")
    try:
        yield
    finally:
        db.session.remove()
        engines[None] = real_engine
        outer.rollback()
        connection.close()
        ctx.pop()


def _truncate_all(db):
    tables = [t.name for t in db.metadata.sorted_tables]
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables)
                                 + " RESTART IDENTITY CASCADE")
        else:
            for name in reversed(tables):
                conn.exec_driver_sql(f'DELETE FROM "{name}"')


# --- clients -----------------------------------------------------------------------------

class FreshContextClient(FlaskClient):
    """Each request in its own app context, as in production.

    Flask reuses an app context that is already pushed (the test's), which would share `g`
    (Flask-Login's cached user, the CSRF token) and the db session between requests.
    """

    def open(self, *args, **kwargs):
        with self.application.app_context():
            return super().open(*args, **kwargs)


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'"X-CSRFToken": "([^"]+)"')


def csrf_from(html):
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


class Browser:
    """A test client that sends forms the way a browser does, CSRF token included."""

    def __init__(self, client):
        self.client = client
        self._token = None
        self._token_secret = None

    def get(self, url, **kw):
        return self.client.get(url, **kw)

    def token(self):
        """The CSRF token of this session, fetched once: a page is asked for it again only
        when the session's CSRF secret changed (logging in and out start a new session)."""
        secret = self._session_csrf_secret()
        if secret is None or secret != self._token_secret:
            # Any HTML page carries the token (the error pages too).
            page = self.client.get("/__token__", follow_redirects=True)
            self._token = csrf_from(page.get_data(as_text=True))
            self._token_secret = self._session_csrf_secret()
        return self._token

    def _session_csrf_secret(self):
        """The raw secret Flask-WTF keeps in the session cookie (None without one)."""
        app = self.client.application
        cookie = self.client.get_cookie(app.config["SESSION_COOKIE_NAME"])
        if cookie is None:
            return None
        session = app.session_interface.get_signing_serializer(app).loads(cookie.value)
        return session.get("csrf_token")

    def post(self, url, data=None, csrf=True, **kw):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.token())
        return self.client.post(url, data=data, **kw)

    def login(self, username, password):
        return self.post("/auth/login", {"username": username, "password": password})

    def logout(self):
        return self.post("/auth/logout")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def new_browser(app):
    """For tests that need several people logged in at once."""
    return lambda: Browser(app.test_client())


# --- logging in (the make_* factories are in tests/factories.py) --------------------------

PASSWORD = "correct horse battery"


@pytest.fixture
def logged_in(browser, make_user):
    """`logged_in("shift_manager")` → (browser, user) with that role logged in."""
    def login_as(role="operator", **fields):
        user = make_user(role, **fields)
        response = browser.login(user.username, PASSWORD)
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return browser, user
    return login_as


# --- a real server for sockets and the browser --------------------------------------------

@pytest.fixture
def live_server(app):
    """The app served over real HTTP in a thread (use with @pytest.mark.live)."""
    from werkzeug.serving import make_server

    if CHOSEN["db_url"].startswith("sqlite"):
        pytest.skip("a server thread beside the test needs PostgreSQL (SQLite has one writer)")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)
    _wait_for_sockets_to_close(app)


def _wait_for_sockets_to_close(app, timeout=5):
    """A socket handler still running would share the next test's database connection."""
    import time

    hub = app.extensions.get("floorline_hub")
    deadline = time.monotonic() + timeout
    while hub is not None and hub.subscriptions and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hub is None or not hub.subscriptions, "a /ws handler outlived its test"


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch):
    """Tests may reach loopback only: any other address is a bug in the test or the code."""
    real_connect = socket.socket.connect

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in
                                          ("localhost", "::1") or host.startswith("/")):
            raise RuntimeError(f"test tried to reach {address}")
        return real_connect(sock, address)
    monkeypatch.setattr(socket.socket, "connect", guarded)
