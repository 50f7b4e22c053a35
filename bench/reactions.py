"""What issue 4's reactions (alert rules, maintenance meters) cost on the ingest path.

    .venv/bin/python bench/reactions.py               # ~2 minutes
    .venv/bin/python bench/reactions.py --batches 20  # fewer timed batches per variant

What it does (docs/PERFORMANCE.md, "Reactions on the ingest path (issue 4)", has the numbers):
1. drops and creates the PostgreSQL database `floorline_bench_reactions` (JIT off, as in
   bench/stack.py), runs the migrations and seeds 500 machines of one type with
   bench/seed.py; uses Redis db 14 on 127.0.0.1:6379 if it answers, else a throwaway one;
2. in this process (create_app, one app context) times `ingest()` + `db.session.commit()`
   for batches of one reading per machine, device time 20 s apart, `now` 1 s after it:
     A  no rules, no plans
     B  the type has 5 threshold rules and 1 offline rule; every condition stays false
     C  as B, but 10 % of the machines run hot (temperature 85 for 4 batches, then normal
        for 4, staggered) so alerts are raised, cleared and re-activated every batch
     D  as B, plus one parts-counting maintenance plan per machine (never due)
     A' A again at the end (rules disabled, plans deactivated): drift of the database
   each with values that change every batch ("changed", stored) and, except C, values
   equal to the previous batch ("unchanged", not stored but still observed);
3. counts SQL statements per batch with a `before_cursor_execute` listener (an executemany
   counts once; the rows it carries are shown separately), and again for batches of 100
   readings, so a per-reading statement shows as a count that grows with the batch;
4. prints the table. Nothing is written to the docs; the section there is by hand.
"""

import argparse
import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_redis, fresh_database, log, pct, run  # noqa: E402

BIN = Path(sys.executable).parent
DB_NAME = "floorline_bench_reactions"
REDIS_URL = "redis://127.0.0.1:6379/14"
MANAGER = "bench-manager"
PASSWORD = "bench-reactions-pw"
STEP = timedelta(seconds=20)
HOT_EVERY = 10      # every 10th machine runs hot in C
HOT_CYCLE = 8       # batches: 4 hot, 4 normal
SMALL = 100         # the second batch size, for statements per batch


# --- setup ----------------------------------------------------------------------------------

def setup(machines):
    dsn = fresh_database(DB_NAME)
    url, service = bench_redis(REDIS_URL, "/tmp/floorline-bench-reactions-redis")
    env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": url}
    t0 = time.perf_counter()
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    run([sys.executable, str(ROOT / "bench" / "seed.py"), "--machines", str(machines),
         "--manager", MANAGER, "--password", PASSWORD], env)
    log(f"{DB_NAME} migrated and seeded with {machines} machines "
        f"({time.perf_counter() - t0:.1f} s); Redis {url}"
        + (" (throwaway)" if service else ""))
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = dsn, url
    return dsn, url, service


# --- readings -------------------------------------------------------------------------------

class Feed:
    """Batches of one reading per machine, device time STEP apart."""

    def __init__(self, codes, start):
        self.codes = codes
        self.ts = start
        self.n = 0
        self.last = {}

    def _values(self, i, hot):
        k = self.n
        temperature = 85.0 + (k % 3) if hot else 40.0 + (k * 7 + i) % 20 + 0.5
        return {"temperature": temperature,
                "spindle_speed": 1000 + (k * 37 + i) % 9000,
                "vibration": round(1.0 + ((k * 13 + i) % 50) / 10, 1),
                "power": 100 + (k * 11 + i) % 800,
                "coolant_pressure": round(3.0 + ((k * 3 + i) % 40) / 10, 1),
                "part_count": 1000 + k * 5 + i % 5}

    def batch(self, changed=True, hot=False, size=None):
        """(readings, now) for the next batch; `hot`: C's machines run hot part of the time."""
        self.ts += STEP
        self.n += 1
        stamp = self.ts.isoformat().replace("+00:00", "Z")
        readings = []
        for i, code in enumerate(self.codes[:size]):
            runs_hot = hot and i % HOT_EVERY == 0 and \
                (self.n + i // HOT_EVERY) % HOT_CYCLE < HOT_CYCLE // 2
            if changed or code not in self.last:
                self.last[code] = self._values(i, runs_hot)
            readings.append({"machine": code, "ts": stamp, "values": dict(self.last[code])})
        return readings, self.ts + timedelta(seconds=1)


# --- measuring ------------------------------------------------------------------------------

class Statements:
    def __init__(self, engine):
        from sqlalchemy import event
        self.count = self.rows = 0
        event.listen(engine, "before_cursor_execute", self._on)

    def _on(self, conn, cursor, statement, parameters, context, executemany):
        self.count += 1
        if executemany:
            self.rows += len(parameters)

    def reset(self):
        self.count = self.rows = 0


def measure(feed, stmts, batches, warmup, **kind):
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    times, counts, rows, outcome = [], [], [], {"stored": 0, "unchanged": 0}
    for n in range(warmup + batches):
        readings, now = feed.batch(**kind)
        stmts.reset()
        t0 = time.perf_counter()
        result = ingest(readings, "bench", now=now)
        db.session.commit()
        elapsed = time.perf_counter() - t0
        assert not result.rejected, result.rejected[:3]
        if n >= warmup:
            times.append(elapsed)
            counts.append(stmts.count)
            rows.append(stmts.rows)
            outcome["stored"] += result.stored
            outcome["unchanged"] += result.unchanged
    readings_per_batch = len(readings)
    return {"batches": batches, "per_batch": readings_per_batch,
            "rate": readings_per_batch * batches / sum(times),
            "p50": pct(times, 50) * 1000, "p95": pct(times, 95) * 1000,
            "stmts": statistics.median(counts), "stmts_max": max(counts),
            "many_rows": statistics.median(rows), **outcome}


def small_statements(feed, stmts, hot):
    """(statements, executemany rows) per batch of SMALL readings (median of 3)."""
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    counts, rows = [], []
    for _ in range(3):
        readings, now = feed.batch(changed=True, hot=hot, size=SMALL)
        stmts.reset()
        ingest(readings, "bench", now=now)
        db.session.commit()
        counts.append(stmts.count)
        rows.append(stmts.rows)
    return statistics.median(counts), statistics.median(rows)


def write_path_counts():
    from sqlalchemy import func, select

    from app.blueprints.alerts.models import Alert, AlertEvent
    from app.blueprints.notifications.models import Notification
    from app.core.extensions import db

    return {name: db.session.scalar(select(func.count()).select_from(model))
            for name, model in (("alerts", Alert), ("events", AlertEvent),
                                ("notifications", Notification))}


# --- scenarios ------------------------------------------------------------------------------

RULES = (  # name, metric, condition, threshold, sustained seconds, severity
    ("Hot spindle", "temperature", ">", 70, 30, "critical"),
    ("Vibration out of range", "vibration", "outside", None, 0, "warning"),
    ("Spindle stalled", "spindle_speed", "<", 100, 0, "warning"),
    ("Coolant pressure out of range", "coolant_pressure", "outside", None, 0, "warning"),
    ("Power peak", "power", ">=", 1000, 0, "info"),
)


def add_rules(machine_type, actor):
    from app.blueprints.alerts.models import AlertRule
    from app.blueprints.alerts.rules import save_rule
    from app.core.extensions import db

    made = []
    for name, key, condition, threshold, sustained, severity in RULES:
        made.append(save_rule(AlertRule(), actor=actor, name=name, kind="threshold",
                              machine_type=machine_type, machine=None, metric_key=key,
                              condition=condition, threshold=threshold,
                              sustained_seconds=sustained, offline_intervals=None,
                              severity=severity, template="", create_task=False,
                              enabled=True))
    made.append(save_rule(AlertRule(), actor=actor, name="Machine offline", kind="offline",
                          machine_type=machine_type, machine=None, metric_key=None,
                          condition=None, threshold=None, sustained_seconds=0,
                          offline_intervals=3, severity="warning", template="",
                          create_task=False, enabled=True))
    db.session.commit()
    return made


def add_plans(machines, actor):
    from app.blueprints.tasks.models import MaintenancePlan
    from app.blueprints.tasks.plans import save_plan
    from app.core.extensions import db

    plans = [save_plan(actor, MaintenancePlan(), m, f"Service {m.code}",
                       "Bench plan: counts parts, never due", "medium", None, None,
                       1_000_000, 3) for m in machines]
    db.session.commit()
    return plans


def vacuum(dsn):
    """Every scenario starts from tidy tables: the state rows are rewritten every batch, and
    without this their dead versions make later scenarios look slower (A' measures it)."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("VACUUM ANALYZE machine_states, readings, maintenance_plans, "
                    "alert_conditions, alerts")
    conn.close()


def scenarios(args, dsn):
    from sqlalchemy import select

    from app import create_app

    # The app's models are imported by create_app(): importing a blueprint's models before
    # it fails (AndonCall's relationship to Downtime does not resolve yet).
    app = create_app()
    # As wsgi.py does for the app's workers: what is loaded now lives as long as the process.
    gc.collect()
    gc.freeze()
    from app.blueprints.alerts.rules import set_enabled
    from app.blueprints.auth.models import User
    from app.blueprints.machines.models import Machine, MachineType
    from app.blueprints.tasks.models import MaintenancePlan
    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    results = []
    with app.app_context():
        stmts = Statements(db.engine)
        machines = db.session.scalars(select(Machine).order_by(Machine.code)).all()
        machine_type = db.session.scalars(select(MachineType)).one()
        actor = db.session.scalar(select(User).where(User.username == MANAGER))
        feed = Feed([m.code for m in machines],
                    datetime.now(UTC).replace(microsecond=0) - timedelta(days=2))
        for _ in range(3):  # states exist, pools and caches are warm
            readings, now = feed.batch()
            ingest(readings, "bench", now=now)
            db.session.commit()

        def run_scenario(name, variants, hot=False):
            vacuum(dsn)
            for changed in variants:
                row = measure(feed, stmts, args.batches, args.warmup, changed=changed, hot=hot)
                row.update(scenario=name, variant="changed" if changed else "unchanged")
                if changed:
                    row["small"] = small_statements(feed, stmts, hot)
                results.append(row)
                log(f"{name:3} {row['variant']:9} {row['rate']:8,.0f} readings/s  "
                    f"p50 {row['p50']:6.1f} ms  p95 {row['p95']:6.1f} ms  "
                    f"{row['stmts']:.0f} statements (+{row['many_rows']:.0f} executemany rows)")

        run_scenario("A", (True, False))
        rules = add_rules(machine_type, actor)
        run_scenario("B", (True, False))
        before = write_path_counts()
        run_scenario("C", (True,), hot=True)
        after = write_path_counts()
        # Back to all-normal so D starts with no condition pending.
        for _ in range(HOT_CYCLE):
            readings, now = feed.batch()
            ingest(readings, "bench", now=now)
            db.session.commit()
        plans = add_plans(machines, actor)
        run_scenario("D", (True, False))
        # The meters must have counted what D fed them (read back from the database).
        db.session.expire_all()
        counted = {(p.last_reading_at, p.parts > 0) for p in db.session.scalars(
            select(MaintenancePlan).where(MaintenancePlan.active.is_(True)))}
        assert counted == {(feed.ts, True)}, f"plans did not count the readings: {counted}"
        for rule in rules:
            set_enabled(rule, False)
        for plan in plans:
            plan.active = False
        db.session.commit()
        run_scenario("A'", (True, False))
    written = {k: after[k] - before[k] for k in after}
    return results, written


def facts(dsn, url):
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal")))
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    conn.close()
    from redis import Redis
    redis_version = Redis.from_url(url).info("server").get("redis_version", "?")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {mem_kb / 1024 / 1024:.1f} GiB; PostgreSQL {pg} "
            f"(jit off), Redis {redis_version}, Python {platform.python_version()}, "
            f"{platform.platform(terse=True)}; app at {commit}")


def table(results):
    base = {r["variant"]: r for r in results if r["scenario"] == "A"}
    lines = ["| scenario | variant | batches × readings | readings/s | ms/batch p50 | "
             "ms/batch p95 | SQL statements/batch (+ executemany rows) | "
             f"statements at {SMALL}/batch | overhead vs A (p50) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        a = base[r["variant"]]
        over = "—" if r["scenario"] == "A" else f"{(r['p50'] / a['p50'] - 1) * 100:+.0f} %"
        many = f" (+{r['many_rows']:.0f})" if r["many_rows"] else ""
        small = "—"
        if "small" in r:
            small = f"{r['small'][0]:.0f}" + (f" (+{r['small'][1]:.0f})" if r["small"][1]
                                              else "")
        spread = f"–{r['stmts_max']}" if r["stmts_max"] != r["stmts"] else ""
        lines.append(
            f"| {r['scenario']} | {r['variant']} | {r['batches']} × {r['per_batch']} | "
            f"{r['rate']:,.0f} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['stmts']:.0f}{spread}{many} | {small} | {over} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--batches", type=int, default=40, help="timed batches per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches first")
    args = parser.parse_args()
    dsn, url, service = setup(args.machines)
    try:
        results, written = scenarios(args, dsn)
        print()
        print(table(results))
        print()
        print(f"C wrote {written['alerts']} alerts, {written['events']} alert events and "
              f"{written['notifications']} notifications over its timed and untimed batches.")
        print(f"Machine: {facts(dsn, url)}")
    finally:
        if service is not None:
            service.stop()


if __name__ == "__main__":
    main()
