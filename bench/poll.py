"""What one poll cycle costs for 50 and 200 machines, against a local vendor over HTTP.

    .venv/bin/python bench/poll.py                 # ~1 minute
    .venv/bin/python bench/poll.py --cycles 10     # fewer timed cycles per size

What it does:
1. drops and creates the PostgreSQL database `floorline_bench_poll` (JIT off, as in
   bench/stack.py), runs the migrations and seeds 200 machines of one type with
   bench/seed.py; uses Redis db 12 on 127.0.0.1:6379 if it answers, else a throwaway one;
2. starts a vendor on loopback whose data URLs answer one reading with new values every
   cycle; one machine in ten answers HTTP 503 and one in twenty-five a value of the wrong
   kind, so every outcome of a cycle (stored, unreachable, rejected) is written each time;
3. in this process (create_app, one app context) runs `poll_cycle()` for the first 50, then
   all 200 machines: warm-up cycles first, then timed ones, counting SQL statements with a
   `before_cursor_execute` listener (an executemany counts once) and the time spent in them;
4. prints the table and writes bench/results/poll.json.
"""

import argparse
import json
import logging
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import report  # noqa: E402
from bench.common import bench_redis, fresh_database, log, pct, run  # noqa: E402
from bench.stack import machine_facts  # noqa: E402

BIN = Path(sys.executable).parent
DB_NAME = "floorline_bench_poll"
REDIS_URL = "redis://127.0.0.1:6379/12"
SIZES = (50, 200)
DOWN_EVERY, REJECTED_EVERY = 10, 25


class Vendor:
    """Data URLs /m/<n>: a fresh reading per request, or the failure that machine plays."""

    def __init__(self):
        self.requests = 0
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                vendor.requests += 1
                n = int(self.path.rsplit("/", 1)[1])
                status, body = vendor.answer(n)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, n):
        if n % DOWN_EVERY == 0:
            return 503, {"error": "busy"}
        k = self.requests
        values = {"temperature": 40.0 + (k + n) % 20, "spindle_speed": 1000 + (k * 37) % 9000,
                  "vibration": 1.0 + (k % 50) / 10, "power": 100 + (k * 11) % 800,
                  "coolant_pressure": 3.0 + (k % 40) / 10, "part_count": 1000 + k}
        if n % REJECTED_EVERY == 0:
            values["temperature"] = "hot"
        ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return 200, {"ts": ts, "values": values}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def setup(machines):
    dsn = fresh_database(DB_NAME)
    url, service = bench_redis(REDIS_URL, "/tmp/floorline-bench-poll-redis")
    env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": url}
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    run([sys.executable, str(ROOT / "bench" / "seed.py"), "--machines", str(machines),
         "--manager", "bench-manager", "--password", "bench-poll-pw"], env)
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = dsn, url
    return service


class Statements:
    """Statements sent, and the seconds spent in them."""

    def __init__(self, engine):
        from sqlalchemy import event
        self.count, self.seconds, self._started = 0, 0.0, {}
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        self._started[id(cursor)] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        self.seconds += time.perf_counter() - self._started.pop(id(cursor), time.perf_counter())

    def reset(self):
        self.count, self.seconds = 0, 0.0


def measure(size, cycles, warmup, vendor, stmts):
    from sqlalchemy import text

    from app.blueprints.telemetry.poll import poll_cycle
    from app.core.extensions import db

    db.session.execute(text(
        "UPDATE machines SET polling_enabled = (n <= :size), data_url = :url || '/m/' || n "
        "FROM (SELECT id, row_number() OVER (ORDER BY code) AS n FROM machines) AS o "
        "WHERE machines.id = o.id"), {"size": size, "url": vendor.url})
    db.session.commit()
    times, sql, counts = [], [], []
    for n in range(warmup + cycles):
        stmts.reset()
        t0 = time.perf_counter()
        result = poll_cycle()
        elapsed = time.perf_counter() - t0
        assert result.get("machines") == size, result
        if n >= warmup:
            times.append(elapsed * 1000)
            sql.append(stmts.seconds * 1000)
            counts.append(stmts.count)
    return {"size": size, "cycles": cycles, "p50": pct(times, 50), "p95": pct(times, 95),
            "sql": statistics.median(sql), "stmts": statistics.median(counts),
            "stored": result["stored"], "failures": result["failures"]}


def build_rows(rows):
    return [report.row(f"poll cycle, {r['size']} machines, p95 (p50)",
                       f"{r['p95']:.0f} ({r['p50']:.0f})", "ms", value=r["p95"])
            for r in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20, help="timed cycles per size")
    parser.add_argument("--warmup", type=int, default=3, help="untimed cycles first")
    parser.add_argument("--quick", action="store_true", help="5 timed cycles per size")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results/")
    args = parser.parse_args()
    if args.quick:
        args.cycles, args.warmup = 5, 1
    started = time.perf_counter()
    service = setup(max(SIZES))
    facts = machine_facts(os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
    vendor = Vendor()
    try:
        from app import create_app
        from app.core.extensions import db

        app = create_app()
        logging.getLogger("app.blueprints.telemetry.poll").setLevel(logging.WARNING)
        rows = []
        with app.app_context():
            stmts = Statements(db.engine)
            for size in SIZES:
                rows.append(measure(size, args.cycles, args.warmup, vendor, stmts))
                r = rows[-1]
                log(f"{size} machines: cycle p50 {r['p50']:.0f} ms, p95 {r['p95']:.0f} ms, "
                    f"SQL {r['sql']:.0f} ms in {r['stmts']:.0f} statements")
    finally:
        vendor.stop()
        if service is not None:
            service.stop()
    detail = ["| machines | cycles | ms/cycle p50 | ms/cycle p95 | SQL ms/cycle | "
              "statements/cycle | stored, failed (last cycle) |",
              "|---|---|---|---|---|---|---|"]
    detail += [f"| {r['size']} | {r['cycles']} | {r['p50']:.0f} | {r['p95']:.0f} | "
               f"{r['sql']:.0f} | {r['stmts']:.0f} | {r['stored']}, {r['failures']} |"
               for r in rows]
    return report.finish("poll", build_rows(rows), facts, title="Poll cycle (in-process)",
                         detail=detail, raw={"sizes": rows}, config=vars(args),
                         write=not args.no_write, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
