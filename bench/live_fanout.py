"""What one commit costs the live fan-out: Redis messages, renders, and delivery latency.

    .venv/bin/python -m bench.live_fanout [--quick]           # this checkout, ~1 minute
                                                              # (+ bench/results/live_fanout.json)
    .venv/bin/python bench/live_fanout.py --compare 4cd92c2   # and that commit, side by side
    .venv/bin/python bench/live_fanout.py --sockets 200 --commits 30

What it does:
1. drops and creates the PostgreSQL database `floorline_bench_live`, runs the migrations of
   the checkout under test, and seeds through the app's services: one machine type with a
   temperature metric and a rule (over 70 °C raises an alert that makes a task), 8 lines of
   5 machines with 2 operators each, and managers, viewers and maintenance users; Redis db
   13 on 127.0.0.1:6379 if it answers, else a throwaway one;
2. serves the app over real HTTP in a thread (Werkzeug, threaded) and opens `--sockets`
   real /ws sockets (simple_websocket), spread over the users and over the pages that ask
   for live pieces (tiles, the open-alerts list, the task list, the notification centre,
   a plain page), each with a reader thread that notes when every frame arrives;
3. makes `--commits` commits (after one warm-up), each a hot reading on a machine not
   heated before, through the real ingest path: it raises an alert with a task,
   notifications and badge updates. After each, it waits until no socket has received
   anything for 2 s;
4. prints per commit: Redis messages published (a pattern subscription on the live
   prefix), templates rendered (Flask's `template_rendered` signal: one per
   render_template call of a renderer), frames sent, sockets reached, and the latency from
   the start of the commit to each reached socket's last frame of it (p50, p95).

With `--compare REV` it checks REV out in a temporary `git worktree` under /tmp, runs the
same bench there (same database recipe, same sockets) and removes the worktree after.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from bench.common import bench_redis, fresh_database, run  # noqa: E402
from bench.common import log as common_log  # noqa: E402

BIN = Path(sys.executable).parent
DB_NAME = "floorline_bench_live"
REDIS_URL = "redis://127.0.0.1:6379/13"
PASSWORD = "bench-live-pw-1"
LINES, MACHINES_PER_LINE, OPERATORS_PER_LINE = 8, 5, 2
OTHERS = {"production_manager": 3, "shift_manager": 3, "viewer": 4, "maintenance": 4}
PAGES = ("tiles", "alerts:open", "tasks", "notifications", "")
QUIET = 2.0         # seconds without a frame: the commit's fan-out is over
MAX_WAIT = 30


def log(msg):
    common_log(msg, sys.stderr)  # stdout carries the child's JSON


# --- setup ----------------------------------------------------------------------------------

def migrate(root, env):
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env, cwd=root)


def seed(app):
    """Users, lines, machines and the alert rule; returns (users, machines)."""
    from app.blueprints.alerts import rules
    from app.blueprints.alerts.models import AlertRule
    from app.blueprints.auth import services as auth_services
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Line, Machine, MachineType, Metric
    from app.core.extensions import db

    with app.app_context():
        cnc = services.save_machine_type(MachineType(), "Bench CNC")
        services.save_metric(cnc, Metric(), "temperature", "Temperature", "°C", "number",
                             20.0, 70.0)
        users, machines = [], []
        for n in range(LINES):
            operators = [auth_services.create_account("operator", f"op{n}x{k}", PASSWORD,
                                                      full_name=f"Operator {n}.{k}")
                         for k in range(OPERATORS_PER_LINE)]
            line = services.save_line(Line(), f"L{n}", f"Line {n}", operators=operators)
            users += operators
            machines += [services.save_machine(Machine(), f"M{n}-{k}", f"Machine {n}.{k}",
                                               cnc, line=line)
                         for k in range(MACHINES_PER_LINE)]
        for role, count in OTHERS.items():
            users += [auth_services.create_account(role, f"{role.replace('_', '')}{k}",
                                                   PASSWORD, full_name=f"{role} {k}")
                      for k in range(count)]
        rules.save_rule(AlertRule(), name="Hot", kind="threshold", machine_type=cnc,
                        machine=None, metric_key="temperature", condition=">",
                        threshold="70", sustained_seconds=0, offline_intervals=None,
                        severity="warning", template="", create_task=True, enabled=True)
        db.session.commit()
        # Spread the machines so consecutive commits land on different lines.
        order = sorted(machines, key=lambda m: (int(m.code.split("-")[1]), m.code))
        return [u.username for u in users], [m.id for m in order]


# --- the server and its sockets -------------------------------------------------------------

def serve(app):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def browser_cookie(base_url, username):
    """Log in and open a page, as a browser does before its page's socket connects."""
    import requests

    http = requests.Session()
    # /auth/login since the renovation; a checkout from before it (--compare) has /login.
    login = f"{base_url}/auth/login"
    if http.get(login, timeout=10).status_code == 404:
        login = f"{base_url}/login"
    page = http.get(login, timeout=10).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    done = http.post(login, data={"username": username, "password": PASSWORD,
                                  "csrf_token": token}, timeout=10)
    assert done.ok, done.status_code
    return "; ".join(f"{c.name}={c.value}" for c in http.cookies)


class Reader:
    """One socket and a thread noting (arrival time, size) of each frame."""

    def __init__(self, base_url, cookie, page):
        from simple_websocket import Client

        url = base_url.replace("http://", "ws://") + "/ws" + (f"?resync={page}" if page else "")
        self.ws = Client.connect(url, headers={"Cookie": cookie})
        hello = self.ws.receive(timeout=10)
        assert hello and 'id="live-dot"' in hello, "socket not subscribed"
        self.frames = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        from simple_websocket import ConnectionClosed

        while self.running:
            try:
                frame = self.ws.receive(timeout=0.5)
            except ConnectionClosed:
                return
            if frame is not None:
                self.frames.append((time.perf_counter(), len(frame)))

    def close(self):
        self.running = False
        self.ws.close()


class RedisCounter:
    """Messages on the live prefix, as any process's hub would receive them."""

    def __init__(self, url, prefix):
        from redis import Redis

        self.pubsub = Redis.from_url(url).pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(f"{prefix}:*")
        self.count = 0
        threading.Thread(target=self._count, daemon=True).start()

    def _count(self):
        for message in self.pubsub.listen():
            if message["type"] == "pmessage":
                self.count += 1


def wait_quiet(readers, since):
    deadline = since + MAX_WAIT
    while time.perf_counter() < deadline:
        last = max((r.frames[-1][0] for r in readers if r.frames), default=since)
        if time.perf_counter() - max(last, since) >= QUIET:
            return
        time.sleep(0.05)


# --- the run --------------------------------------------------------------------------------

def heat(app, machine_id, at):
    """One commit through the real ingest path: a hot reading raises an alert with a task."""
    from app.blueprints.machines.models import Machine
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    with app.app_context():
        machine = db.session.get(Machine, machine_id)
        ingest([{"ts": at.isoformat(), "values": {"temperature": 90.0}}], "webhook",
               machine=machine, now=at)
        started = time.perf_counter()
        db.session.commit()
        return started


def measure(root, sockets, commits):
    sys.path.insert(0, str(root))
    os.chdir(root)
    dsn = fresh_database(DB_NAME, jit=True)
    url, service = bench_redis(REDIS_URL, "/tmp/floorline-bench-live-redis")
    prefix = f"bench-live{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": url, "LIVE_CHANNEL_PREFIX": prefix}
    migrate(root, env)
    os.environ.update(DATABASE_URL=dsn, REDIS_URL=url, LIVE_CHANNEL_PREFIX=prefix)
    import logging

    from flask import template_rendered

    from app import create_app

    app = create_app()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request is noise
    usernames, machine_ids = seed(app)
    server, base_url = serve(app)
    cookies = {name: browser_cookie(base_url, name) for name in usernames}
    readers = [Reader(base_url, cookies[usernames[i % len(usernames)]],
                      PAGES[(i // len(usernames)) % len(PAGES)]) for i in range(sockets)]
    log(f"{root}: {len(usernames)} users, {sockets} sockets open")
    renders = []
    template_rendered.connect(lambda *a, **k: renders.append(1), app, weak=False)
    counter = RedisCounter(url, prefix)
    time.sleep(0.5)
    wait_quiet(readers, time.perf_counter())
    rows = []
    at = datetime.now(UTC)
    for n, machine_id in enumerate(machine_ids[:commits + 1]):
        marks = [len(r.frames) for r in readers]
        messages, rendered = counter.count, len(renders)
        started = heat(app, machine_id, at + timedelta(seconds=n))
        wait_quiet(readers, started)
        new = [r.frames[m:] for r, m in zip(readers, marks, strict=True)]
        rows.append({"redis": counter.count - messages, "renders": len(renders) - rendered,
                     "frames": sum(len(f) for f in new),
                     "reached": sum(1 for f in new if f),
                     "latency": [f[-1][0] - started for f in new if f]})
    for reader in readers:
        reader.close()
    server.shutdown()
    if service is not None:
        service.stop()
    return summary(rows[1:])  # the first commit warms the template cache


def summary(rows):
    latencies = sorted(x for row in rows for x in row["latency"])

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"commits": len(rows),
            "redis": statistics.mean(r["redis"] for r in rows),
            "renders": statistics.mean(r["renders"] for r in rows),
            "frames": statistics.mean(r["frames"] for r in rows),
            "reached": statistics.mean(r["reached"] for r in rows),
            "p50": pct(0.50), "p95": pct(0.95)}


def table(results, sockets):
    print(f"\nLive fan-out, {sockets} sockets, per commit (hot reading → alert + task):\n")
    print(f"{'checkout':<24}{'Redis msgs':>11}{'renders':>9}{'frames':>8}{'reached':>9}"
          f"{'p50 ms':>9}{'p95 ms':>9}")
    for name, r in results:
        print(f"{name:<24}{r['redis']:>11.1f}{r['renders']:>9.1f}{r['frames']:>8.1f}"
              f"{r['reached']:>9.1f}{r['p50']:>9.1f}{r['p95']:>9.1f}")
    print(f"\n(means over {results[0][1]['commits']} commits after a warm-up; latency from "
          "the start of the commit to each reached socket's last frame of it)")


def run_child(root, args):
    """The bench in a fresh interpreter, so each checkout imports its own `app`."""
    done = subprocess.run([sys.executable, __file__, "--root", str(root), "--json",
                           "--sockets", str(args.sockets), "--commits", str(args.commits)],
                          stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(rev, args):
    workdir = Path(tempfile.mkdtemp(prefix="floorline-live-base-"))
    base = workdir / "tree"
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(base), rev],
                   check=True, capture_output=True)
    try:
        results = [("this checkout", run_child(HERE, args)), (rev, run_child(base, args))]
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(base)],
                       check=True)
        workdir.rmdir()
    table(results, args.sockets)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=160)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--compare", metavar="REV", help="also run at this commit")
    parser.add_argument("--root", type=Path, default=HERE, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="60 sockets, 8 commits")
    args = parser.parse_args()
    if args.quick:
        args.sockets, args.commits = min(args.sockets, 60), min(args.commits, 8)
    if args.commits >= LINES * MACHINES_PER_LINE:
        parser.error(f"at most {LINES * MACHINES_PER_LINE - 1} commits (one machine each)")
    if args.compare:
        compare(args.compare, args)
    elif args.json:
        print(json.dumps(measure(args.root, args.sockets, args.commits)))
    else:
        result = measure(args.root, args.sockets, args.commits)
        table([("this checkout", result)], args.sockets)
        write_result(result, args.sockets)


def write_result(r, sockets):
    """bench/results/live_fanout.json in the bench scenarios' shape (figures for the record,
    no target of their own: targets 4 and 5 are bench/plant_live.py and bench/sockets.py)."""
    from bench.live_setup import report

    rows = [{"figure": f"Redis messages per commit ({sockets} sockets)", "value": round(
                r["redis"], 1), "unit": "", "target": "1", "met": r["redis"] <= 1.0},
            {"figure": "templates rendered per commit", "value": round(r["renders"], 1),
             "unit": "", "target": "(info)", "met": None},
            {"figure": "frames sent per commit", "value": round(r["frames"], 1), "unit": "",
             "target": "(info)", "met": None},
            {"figure": "sockets reached per commit", "value": round(r["reached"], 1),
             "unit": "", "target": "(info)", "met": None},
            {"figure": "commit → last frame, p95 (p50)", "value": round(r["p95"], 1),
             "p50": round(r["p50"], 1), "unit": "ms", "target": "(info)", "met": None}]
    report("live_fanout", "Live fan-out of one alerting commit", rows, {"raw": r})


if __name__ == "__main__":
    main()
