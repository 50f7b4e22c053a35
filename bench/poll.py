"""Target 6: 1,000 machines with data URLs polled within one 20 s cycle, the simulator
(tools/simulator) serving them; each cycle's duration and failures recorded, and the whole
cycle handed to ingest as one batch.

    .venv/bin/python -m bench.poll             # 200 and 1,000 machines, ~2 minutes
    .venv/bin/python -m bench.poll --quick     # 1,000 machines, 2 timed cycles

What it does:
1. drops and creates the PostgreSQL database `floorline_bench_poll` (JIT off, as in
   bench/stack.py), runs the migrations and seeds 1,000 machines of one type with
   bench/seed.py, each with a vendor id; uses Redis db 12 on 127.0.0.1:6379 if it answers,
   else a throwaway one (the poll's lock);
2. starts the vendor simulator (`python -m tools.simulator`, its own process, a seed) on a
   free port and points the machines' data URLs at it; one machine in a hundred points at a
   closed port instead, so every cycle has failures to record;
3. in this process (create_app, one app context) runs `poll_cycle()` for the first N
   machines: warm-up cycles, then timed ones, counting SQL statements (and those that insert
   readings: one per cycle means the cycle went to ingest as one batch) and reading each
   cycle's PollCycle row (duration_ms, failures, stored) as the app recorded it;
4. prints the table and writes bench/results/poll.json.
"""

import argparse
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.common import bench_redis, fresh_database, log, pct, run  # noqa: E402
from bench.servers import free_port  # noqa: E402
from bench.stack import machine_facts  # noqa: E402

BIN = Path(sys.executable).parent
DB_NAME = "floorline_bench_poll"
REDIS_URL = "redis://127.0.0.1:6379/12"
SIZES = (200, 1000)
CYCLE_SECONDS = 20
CLOSED_EVERY = 100  # one machine in a hundred has a data URL nobody answers


class Simulator:
    """`python -m tools.simulator` on a free port against the bench database."""

    def __init__(self, env, logdir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(logdir) / "simulator.log"
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tools.simulator", "--port", str(self.port), "--seed", "7",
             "--silent", "none", "--push-interval", "3600"],
            cwd=ROOT, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
            start_new_session=True)

    def wait_ready(self, vendor_id, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"simulator exited:\n{self.log_path.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/machines/{vendor_id}/data", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"simulator not ready in {timeout} s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()


def setup(machines):
    dsn = fresh_database(DB_NAME)
    url, service = bench_redis(REDIS_URL, "/tmp/floorline-bench-poll-redis")
    env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": url}
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    run([sys.executable, str(ROOT / "bench" / "seed.py"), "--machines", str(machines),
         "--manager", "bench-manager", "--password", "bench-poll-pw"], env)
    # Every machine a vendor id, so the simulator plays it.
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute("UPDATE machines SET vendor_id = 'sim-' || lower(code)")
    conn.close()
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = dsn, url
    return env, service


class Statements:
    """Statements sent, and the seconds spent in them."""

    def __init__(self, engine):
        from sqlalchemy import event
        self.count, self.seconds, self._started, self.reading_inserts = 0, 0.0, {}, 0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        self.reading_inserts += "INSERT INTO readings" in statement
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.seconds += time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())

    def reset(self):
        self.count, self.seconds, self.reading_inserts = 0, 0.0, 0


def measure(size, cycles, warmup, simulator, stmts):
    from sqlalchemy import select, text

    from app.blueprints.telemetry.models import PollCycle
    from app.blueprints.telemetry.poll import poll_cycle
    from app.core.extensions import db

    db.session.execute(text(
        "UPDATE machines SET polling_enabled = (n <= :size), data_url = CASE "
        "WHEN n % :closed = 0 THEN 'http://127.0.0.1:9/machines/' || vendor_id || '/data' "
        "ELSE :url || '/machines/' || vendor_id || '/data' END "
        "FROM (SELECT id, row_number() OVER (ORDER BY code) AS n FROM machines) AS o "
        "WHERE machines.id = o.id"), {"size": size, "url": simulator.url,
                                       "closed": CLOSED_EVERY})
    db.session.commit()
    rows = []
    for n in range(warmup + cycles):
        stmts.reset()
        t0 = time.perf_counter()
        result = poll_cycle()
        elapsed = time.perf_counter() - t0
        assert result.get("machines") == size, result
        if n < warmup:
            continue
        cycle = db.session.scalars(select(PollCycle).order_by(PollCycle.id.desc())).first()
        rows.append({"wall_ms": elapsed * 1000, "duration_ms": cycle.duration_ms,
                     "failures": cycle.failures, "stored": cycle.stored,
                     "sql_ms": stmts.seconds * 1000, "statements": stmts.count,
                     "reading_inserts": stmts.reading_inserts})
        db.session.commit()
    durations = [r["duration_ms"] for r in rows]
    return {"size": size, "cycles": cycles, "p50": pct(durations, 50),
            "max": max(durations), "failures": [r["failures"] for r in rows],
            "stored": [r["stored"] for r in rows],
            "sql": statistics.median(r["sql_ms"] for r in rows),
            "stmts": statistics.median(r["statements"] for r in rows),
            "reading_inserts": max(r["reading_inserts"] for r in rows), "cycles_raw": rows}


def build_rows(results):
    rows = []
    for r in results:
        expected = r["size"] // CLOSED_EVERY
        rows.append(report.row(
            f"(6) poll cycle, {r['size']} machines via the simulator, slowest (p50)",
            f"{r['max'] / 1000:.1f} ({r['p50'] / 1000:.1f})", "s",
            f"< {CYCLE_SECONDS} s", r["max"] < CYCLE_SECONDS * 1000, value=r["max"] / 1000))
        rows.append(report.row(
            f"(6) poll cycle, {r['size']} machines: failures recorded per cycle",
            ", ".join(str(f) for f in sorted(set(r["failures"]))), "machines",
            f"= {expected} (closed port)", set(r["failures"]) == {expected},
            value=max(r["failures"])))
        rows.append(report.row(
            f"(6) poll cycle, {r['size']} machines: statements inserting readings per cycle",
            str(r["reading_inserts"]), "statements", "1 (one batch)",
            r["reading_inserts"] == 1, value=r["reading_inserts"]))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=5, help="timed cycles per size")
    parser.add_argument("--warmup", type=int, default=1, help="untimed cycles first")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--quick", action="store_true", help="1,000 machines, 2 cycles")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    if args.quick:
        args.cycles, args.warmup, args.sizes = 2, 1, [1000]
    started = time.perf_counter()
    logdir = tempfile.mkdtemp(prefix="floorline-bench-poll-")
    env, service = setup(max(args.sizes))
    facts = machine_facts(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
    simulator = Simulator(env, logdir)
    try:
        simulator.wait_ready("sim-bm-0001")
        from app import create_app
        from app.core.extensions import db

        app = create_app()
        logging.getLogger("app.blueprints.telemetry.poll").setLevel(logging.WARNING)
        results = []
        with app.app_context():
            stmts = Statements(db.engine)
            for size in sorted(args.sizes):
                results.append(measure(size, args.cycles, args.warmup, simulator, stmts))
                r = results[-1]
                log(f"{size} machines: cycle p50 {r['p50']:.0f} ms, slowest {r['max']:.0f} ms, "
                    f"failures {r['failures']}, stored {r['stored']}, SQL {r['sql']:.0f} ms in "
                    f"{r['stmts']:.0f} statements, {r['reading_inserts']} inserting readings")
    finally:
        simulator.stop()
        if service is not None:
            service.stop()
        shutil.rmtree(logdir, ignore_errors=True)
    detail = ["| machines | cycles | duration p50 | slowest | failures / cycle | stored / cycle | "
              "SQL ms / cycle | statements / cycle |", "|---|---|---|---|---|---|---|---|"]
    detail += [f"| {r['size']} | {r['cycles']} | {r['p50']:,.0f} ms | {r['max']:,.0f} ms | "
               f"{', '.join(map(str, r['failures']))} | {', '.join(map(str, r['stored']))} | "
               f"{r['sql']:.0f} | {r['stmts']:.0f} |" for r in results]
    return report.finish("poll", build_rows(results), facts,
                         title="Poll cycle (in-process, the simulator serving the data URLs)",
                         detail=detail, raw={"sizes": results}, config=vars(args),
                         write=not args.no_write, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
