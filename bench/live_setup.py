"""What the plant-page, live and socket benches share: a seeded plant served by gunicorn
with the Procfile's web settings, a logged-in manager, readings, results.

    from bench.live_setup import Plant
    with Plant("floorline_bench_page", machines=500) as plant:
        plant.get("/")  ...

Database from bench/common.py (dropped and created, JIT off), seeded by bench/seed.py;
Redis db 13 (or a throwaway one) with a channel prefix of its own; gunicorn with the
Procfile's `web:` options (worker class and connections), so a bench measures what
`make run` runs.
"""

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import random
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from simple_websocket import Client as WsClient

from bench.common import ROOT, bench_redis, fresh_database, log, pct, run

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results"
REDIS_URL = "redis://127.0.0.1:6379/13"
MANAGER = "bench-manager"
PASSWORD = "bench-" + secrets.token_hex(8)
TILE_RE = re.compile(r'id="machine-(\d+)-tile"')


def procfile_web_args():
    """The Procfile's gunicorn options for `web:`, less --bind and the access log."""
    line = next(raw for raw in (ROOT / "Procfile").read_text().splitlines()
                if raw.startswith("web:"))
    line = re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m[1], m[2]), line)
    words = shlex.split(line.removeprefix("web:"))[1:-1]
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("--bind", "--access-logfile"):
            skip = True
        else:
            out.append(word)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Machine:
    def __init__(self, id_, code, secret):
        self.id, self.code, self.secret, self.n = id_, code, secret, 0


class Plant:
    """A seeded database and the app under gunicorn; a context manager that stops it."""

    def __init__(self, db_name, machines=500, workers=None, gunicorn_args=None):
        self.db_name, self.count = db_name, machines
        self.args = gunicorn_args or procfile_web_args()
        if workers is not None:
            self.args = _with_workers(self.args, workers)
        self.tmp = tempfile.TemporaryDirectory(prefix="floorline-bench-")
        self.proc = self.redis_service = None
        self.rnd = random.Random(7)

    def __enter__(self):
        dsn = fresh_database(self.db_name)
        redis_url, self.redis_service = bench_redis(REDIS_URL, self.tmp.name)
        self.env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": redis_url,
                    "SECRET_KEY": secrets.token_hex(16), "INGEST_KEY": secrets.token_hex(16),
                    "LIVE_CHANNEL_PREFIX": f"bench{os.getpid()}-live",
                    "RQ_QUEUE": f"bench{os.getpid()}", "WEB_CONCURRENCY": "2"}
        self.dsn = dsn
        run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], self.env)
        run([sys.executable, str(ROOT / "bench" / "seed.py"), "--machines", str(self.count),
             "--manager", MANAGER, "--password", PASSWORD], self.env)
        self.machines = self._machines()
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        if self.redis_service is not None:
            self.redis_service.stop()
        self.tmp.cleanup()

    def _machines(self):
        conn = psycopg2.connect(self.dsn)
        with conn.cursor() as cur:
            cur.execute("SELECT id, code, webhook_secret FROM machines ORDER BY code")
            machines = [Machine(*row) for row in cur.fetchall()]
        conn.close()
        return machines

    def start(self, root=ROOT):
        """gunicorn serving the app of `root` (this checkout, or another one's work tree for
        a side-by-side comparison on the same database)."""
        self.port = free_port()
        self.log_path = Path(self.tmp.name) / "app.log"
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        cmd = [str(BIN / "gunicorn"), *self.args, "--bind", f"127.0.0.1:{self.port}",
               "wsgi:app"]
        self.proc = subprocess.Popen(cmd, cwd=root, env=self.env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_path.read_text()[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if self.get("/auth/login", cookie="")[0] == 200:
                    break
            time.sleep(0.3)
        self.cookie = session_cookie(self.port, MANAGER, PASSWORD)
        log(f"app on :{self.port}: gunicorn {' '.join(self.args)}"
            + ("" if root == ROOT else f" (from {root})"))

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=5)
        self.log_file.close()
        self.proc = None

    def worker_pids(self):
        try:
            return [int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
                    .read_text().split()]
        except OSError:
            return []

    def connection(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def get(self, path, cookie=None, conn=None):
        """(status, body) of one GET, on `conn` (kept alive) or a new connection."""
        own = conn is None
        conn = conn or self.connection()
        try:
            conn.request("GET", path, headers={"Cookie": self.cookie if cookie is None
                                               else cookie})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            if own:
                conn.close()

    def reading(self, machine):
        machine.n += 1
        r = self.rnd
        return {"machine": machine.code,
                "ts": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "values": {"temperature": round(r.uniform(35, 68), 2),
                           "spindle_speed": r.randrange(8000, 14000),
                           "vibration": round(r.uniform(0.5, 6.5), 3),
                           "power": round(r.uniform(3, 25), 2),
                           "coolant_pressure": round(r.uniform(2.5, 7.5), 2),
                           "part_count": machine.n}}

    def post_readings(self, conn, body, secret):
        conn.request("POST", "/api/v1/ingest", body=body, headers={
            "Content-Type": "application/json", "X-Floorline-Signature": sign(secret, body)})
        response = conn.getresponse()
        return response.status, response.read()

    def socket(self, resync="tiles"):
        """A manager's /ws socket as the plant page opens it; after its first frames."""
        ws = WsClient.connect(f"ws://127.0.0.1:{self.port}/ws?resync={resync}&since="
                              + datetime.now(UTC).isoformat().replace("+", "%2B"),
                              headers={"Cookie": self.cookie})
        hello = ws.receive(timeout=30)
        if not hello or 'id="live-dot"' not in hello:
            raise RuntimeError(f"first frame is not the live dot: {hello!r}")
        return ws


@contextlib.contextmanager
def worktree(rev):
    """A detached work tree of `rev` under /tmp, removed after."""
    path = Path(tempfile.mkdtemp(prefix="floorline-bench-rev-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), rev],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
                       check=True, capture_output=True)
        path.parent.rmdir()


def _with_workers(args, workers):
    out = list(args)
    if "--workers" in out:
        out[out.index("--workers") + 1] = str(workers)
    else:
        out += ["--workers", str(workers)]
    return out


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def session_cookie(port, username, password):
    """Log in through the real form; the Cookie header of that session."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/auth/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookies = _cookies(response)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    body = (f"username={username}&password={password}&csrf_token={token}").encode()
    conn.request("POST", "/auth/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies})
    response = conn.getresponse()
    response.read()
    if response.status != 302:
        raise RuntimeError(f"login failed: {response.status}")
    conn.close()
    return _cookies(response) or cookies


def _cookies(response):
    return "; ".join(v.split(";", 1)[0] for k, v in response.getheaders()
                     if k.lower() == "set-cookie")


def ms_summary(seconds):
    values = [s * 1000 for s in seconds]
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {"n": len(values), "p50": round(pct(values, 50), 2),
            "p95": round(pct(values, 95), 2), "max": round(max(values), 2)}


def report(name, title, rows, extra=None):
    """Print the table and write bench/results/<name>.json. rows: dicts with figure, value,
    unit, target, met (None: information only)."""
    print(f"\n{title}\n")
    print("| figure | value | target | met |\n|---|---|---|---|")
    for row in rows:
        met = "—" if row["met"] is None else ("yes" if row["met"] else "**no**")
        print(f"| {row['figure']} | {row['value']} {row['unit']} | {row['target']} | {met} |")
    RESULTS.mkdir(exist_ok=True)
    out = {"scenario": name, "title": title, "ran_at": datetime.now(UTC).isoformat(),
           "commit": _commit(), "cores": os.cpu_count(), "rows": rows, **(extra or {})}
    (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nwritten: bench/results/{name}.json")
    return all(row["met"] is not False for row in rows)


def _commit():
    with contextlib.suppress(subprocess.CalledProcessError, OSError):
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    return ""
