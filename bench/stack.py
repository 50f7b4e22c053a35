"""Setup and seed for the scenarios that serve the app over HTTP: a fresh database, the
migrations, 500 seeded machines, the app (and optionally the bare baseline) under gunicorn,
a warm-up, and always a clean stop.

    with stack.running(args, bare=True) as ctx:
        ...  # ctx: dsn, machines, gen, ingest_key, app, bare, cookie, cpu, profiler, machine

The database is `floorline_bench` (server from --admin-dsn); JIT is off for it unless --jit:
the app's old duplicate check could JIT-compile for minutes (docs/PERFORMANCE.md, History).
Redis is --redis-url with a channel prefix of its own, so other apps on the same Redis
neither see nor disturb the bench.
"""

import contextlib
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
import requests
from redis import Redis

from bench.common import ROOT, log
from bench.load import Machine, Readings, app_batch_segment, batch_plan, single_plan, single_segment, split
from bench.servers import BIN, GUNICORN_ARGS, CpuMeter, Profiler, Server, free_port

DB_NAME = "floorline_bench"
MANAGER = "bench-manager"
PASSWORD = "bench-" + secrets.token_hex(8)
DEFAULT_APP = "wsgi:app"


def add_arguments(parser):
    """The options every served scenario takes."""
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--app", default=DEFAULT_APP, help="the WSGI app gunicorn serves")
    parser.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    parser.add_argument("--jit", action="store_true",
                        help="leave PostgreSQL JIT on for the bench database")
    parser.add_argument("--profile", nargs="?", const="/tmp/floorline-bench-profile",
                        default=None, metavar="DIR",
                        help="py-spy the app's workers in round 1 (raw stacks)")
    parser.add_argument("--profile-mode", choices=["gil", "wall"], default="gil",
                        help="gil: CPU (the thread holding the GIL); wall: all threads")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep the servers' logs (a temp dir; its path is printed)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only: do not write bench/results/")


def create_database(admin_dsn, jit):
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB_NAME}")
        if not jit:
            # A JIT compile cannot be cancelled and once took 16 minutes here, blocking other
            # databases' CREATE/DROP DATABASE (docs/PERFORMANCE.md, History).
            cur.execute(f"ALTER DATABASE {DB_NAME} SET jit = off")
    conn.close()
    return re.sub(r"/[^/]*$", f"/{DB_NAME}", admin_dsn)


def run(cmd, env):
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def load_machines(dsn):
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SELECT id, code, webhook_secret FROM machines ORDER BY code")
        machines = [Machine(*row) for row in cur.fetchall()]
    conn.close()
    return machines


def machine_facts(dsn=None, redis_url=None):
    """What the figures were measured on: hardware, versions, the commit."""
    cpu, mem_kb = "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text()
                          .splitlines() if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        pass
    facts = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
             "load_before": os.getloadavg()[0],
             "cores": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1),
             "python": platform.python_version(), "os": platform.platform(terse=True),
             "app_commit": app_commit(), "gunicorn": " ".join(GUNICORN_ARGS)}
    if dsn:
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute("SHOW server_version")
            facts["postgresql"] = cur.fetchone()[0]
        conn.close()
    if redis_url:
        with contextlib.suppress(Exception):
            facts["redis"] = Redis.from_url(redis_url).info("server").get("redis_version")
    return facts


def app_commit():
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "config.py"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        return (commit + (" + uncommitted changes in app/" if dirty else "")) or "?"
    except OSError:
        return "?"


def session_cookie(port, username, password):
    """Log in through the real login form and return the Cookie header."""
    base = f"http://127.0.0.1:{port}"
    http = requests.Session()
    page = http.get(f"{base}/auth/login", timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = http.post(f"{base}/auth/login", data={
        "username": username, "password": password, "csrf_token": token},
        allow_redirects=False, timeout=10)
    if response.status_code != 302:
        raise RuntimeError(f"login failed: {response.status_code}")
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


def setup(args, ctx, env, tmp, bare):
    ctx["dsn"] = env["DATABASE_URL"] = create_database(args.admin_dsn, args.jit)
    t0 = time.perf_counter()
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    log(f"database {DB_NAME} migrated ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    run([sys.executable, str(ROOT / "bench" / "seed.py"), "--machines", str(args.machines),
         "--manager", MANAGER, "--password", PASSWORD], env)
    ctx["machines"] = load_machines(ctx["dsn"])
    log(f"seeded {len(ctx['machines'])} machines and the manager "
        f"({time.perf_counter() - t0:.1f} s)")
    ctx["app"] = Server("app", args.app, free_port(), env, tmp)
    if bare:
        ctx["bare"] = Server("bare", "bare_app:app", free_port(), env, tmp,
                             chdir=ROOT / "bench")
    ctx["app"].wait_ready("/auth/login")
    if bare:
        ctx["bare"].wait_ready("/health")
    log(f"app on :{ctx['app'].port} (workers {ctx['app'].worker_pids()})"
        + (f", bare on :{ctx['bare'].port}" if bare else ""))


def warm_up(ctx):
    """Every machine gets a state (and the workers their pools) before anything is timed."""
    gen, machines = ctx["gen"], ctx["machines"]
    port = ctx["app"].port
    for _ in range(3):  # three readings each: states exist, trends start
        plan = batch_plan(gen, split(machines, 2), 500, len(machines) * 2)
        app_batch_segment(port, ctx["ingest_key"], plan)
    single_segment(port, single_plan(gen, split(machines, 4), port, 50), 1.0)
    if ctx.get("bare"):
        bare = ctx["bare"].port
        single_segment(bare, single_plan(gen, split(machines, 4), bare, 50), 1.0)
    ctx["cookie"] = session_cookie(port, MANAGER, PASSWORD)
    log("warmed up: every machine has a state, the servers answered")


def _on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def running(args, bare=False, redis_url=None):
    """Set up, seed, serve and warm up; stop the servers whatever happens."""
    ingest_key = secrets.token_hex(16)
    env = {**os.environ, "REDIS_URL": redis_url or args.redis_url,
           "SECRET_KEY": secrets.token_hex(16), "INGEST_KEY": ingest_key,
           # Our own channels: other apps on the same Redis neither see nor disturb ours.
           "LIVE_CHANNEL_PREFIX": f"bench{os.getpid()}-live", "PYTHONUNBUFFERED": "1"}
    ctx = {"gen": Readings(), "ingest_key": ingest_key, "env": env,
           "profiler": Profiler(args.profile, args.profile_mode)}
    ctx["cpu"] = CpuMeter(ctx)
    tmp = tempfile.mkdtemp(prefix="floorline-bench-")
    ctx["logdir"] = tmp
    signal.signal(signal.SIGTERM, _on_signal)
    failed = False
    try:
        setup(args, ctx, env, tmp, bare)
        ctx["machine"] = machine_facts(ctx["dsn"], env["REDIS_URL"])
        warm_up(ctx)
        yield ctx
    except BaseException:
        failed = True
        for server in [s for s in (ctx.get("app"), ctx.get("bare")) if s]:
            print(f"--- {server.name} log tail ---\n{server.tail()}", file=sys.stderr)
        raise
    finally:
        for server in [s for s in (ctx.get("app"), ctx.get("bare")) if s]:
            server.stop()
        if failed or args.keep_logs:
            log(f"server logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
