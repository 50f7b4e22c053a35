"""History from roll-ups: a machine's 30-day chart and the plant's 30-day figures with
10 M readings in the table, beside the same questions asked of the raw readings.

    .venv/bin/python -m bench.history            # 10 M readings, ~15 minutes on 2 cores
    .venv/bin/python -m bench.history --quick    # 1 M readings, ~2 minutes

What it does:
1. drops and creates the PostgreSQL database `floorline_bench_history` (JIT off, as every
   bench), migrates it and seeds 500 machines of one six-metric type (bench/seed.py);
2. writes the readings of the last 30 days straight into the table with generate_series
   (not through ingest: this bench is about reading them): 20,000 per machine (2,000 with
   --quick), one every ~130 s, each carrying only the one or two metrics that changed, as
   change-only storage keeps them; the month's partitions are made first;
3. builds the roll-ups with `rebuild` (what `flask telemetry rollups rebuild` runs) and
   times it, then times one job run that rolls a finished hour for every machine;
4. in this process (create_app, one app context) times, p50 and p95:
   - the 30-day chart of a machine (`build_chart`, all six metrics, as the history view
     calls it), for machines spread over the plant, from the roll-ups; then the same
     series from the readings alone;
   - the plant's 30-day figures (`plant_aggregates`: readings, low, high and time-weighted
     mean per machine and metric); then the raw scan of the month for the plainer figures
     (count, min, max, mean of the readings per machine and metric);
5. prints the table and writes bench/results/history.json (rows: name, figure, unit,
   target, met). Exit status 1 when a target is missed. The database is left in place.
"""

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import ROOT, bench_redis, fresh_database, log, pct, run

BIN = Path(sys.executable).parent
DB_NAME = "floorline_bench_history"
REDIS_URL = "redis://127.0.0.1:6379/12"
RESULTS = ROOT / "bench" / "results" / "history.json"
MACHINES = 500
DAYS = 30
TARGET_MS = 50.0

# One reading every DAYS / per_machine; which metrics it carries depends on its number, so
# about 1.8 metrics a reading, temperature and vibration taking turns.
READINGS_SQL = """
INSERT INTO readings (machine_id, ts, received_at, values, source)
SELECT m.id, r.ts, r.ts + interval '1 second', jsonb_strip_nulls(jsonb_build_object(
         'temperature', CASE WHEN n % 2 = 0 THEN 30 + ((n * 7 + m.id) % 300) / 10.0 END,
         'vibration', CASE WHEN n % 2 = 1 THEN ((n * 13 + m.id) % 70) / 10.0 END,
         'spindle_speed', CASE WHEN n % 3 = 0 THEN 1000 + (n * 37 + m.id) % 9000 END,
         'power', CASE WHEN n % 5 = 0 THEN 100 + (n * 11) % 800 END,
         'part_count', CASE WHEN n % 4 = 0 THEN n / 4 END)), 'bench'
FROM machines m
CROSS JOIN generate_series(0, :per_machine - 1) AS n
CROSS JOIN LATERAL (SELECT CAST(:start AS timestamptz)
                           + (n * :step + m.id % 97) * interval '1 second' AS ts) AS r
WHERE m.id = ANY(:ids)
"""

STATES_SQL = """
INSERT INTO machine_states (machine_id, values, reading_ts, last_seen_at, last_changed_at,
                            trend, readings_stored, readings_unchanged, poll_failures)
SELECT m.id, CAST(:values AS jsonb), :now, :now, :now, '[]', :per_machine, 0, 0
FROM machines m
ON CONFLICT (machine_id) DO UPDATE SET values = excluded.values,
  reading_ts = excluded.reading_ts, last_seen_at = excluded.last_seen_at
"""

# The plainest raw answer to "the month per machine and metric": one pass over its readings.
RAW_SCAN_SQL = """
SELECT r.machine_id, e.key, count(*), min((e.value #>> '{}')::float8),
       max((e.value #>> '{}')::float8), avg((e.value #>> '{}')::float8)
FROM readings r CROSS JOIN LATERAL jsonb_each(r.values) AS e
WHERE r.ts >= :start AND r.ts < :end AND jsonb_typeof(e.value) = 'number'
GROUP BY r.machine_id, e.key
"""


def setup():
    dsn = fresh_database(DB_NAME)
    url, service = bench_redis(REDIS_URL, "/tmp/floorline-bench-history-redis")
    env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": url}
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    run([sys.executable, str(ROOT / "bench" / "seed.py"), "--machines", str(MACHINES),
         "--manager", "bench-manager", "--password", "bench-history-pw"], env)
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = dsn, url
    return service


def seed_readings(per_machine, now):
    from sqlalchemy import text

    from app.blueprints.telemetry.partitions import ensure_partitions
    from app.core.extensions import db

    start = now - timedelta(days=DAYS)
    ensure_partitions(db.session.connection(), today=start.date(), months_ahead=2)
    db.session.commit()
    ids = db.session.execute(text("SELECT id FROM machines ORDER BY id")).scalars().all()
    step = DAYS * 86400 / per_machine
    t0 = time.perf_counter()
    for i in range(0, len(ids), 50):
        db.session.execute(text(READINGS_SQL), {"per_machine": per_machine, "start": start,
                                                "step": step, "ids": ids[i:i + 50]})
        db.session.commit()
    # The latest values name the metrics the machine reports (the chart draws those).
    latest = {"temperature": 40.0, "vibration": 2.0, "spindle_speed": 5000, "power": 300,
              "part_count": per_machine // 4}
    db.session.execute(text(STATES_SQL), {"now": now, "per_machine": per_machine,
                                          "values": json.dumps(latest)})
    db.session.commit()
    seconds = time.perf_counter() - t0
    count = db.session.execute(text("SELECT count(*) FROM readings")).scalar()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE readings"))
    return count, seconds


def build_rollups(now):
    from sqlalchemy import text

    from app.blueprints.telemetry.rollups import rebuild, roll_up
    from app.core.extensions import db

    t0 = time.perf_counter()
    hours = rebuild(now - timedelta(days=DAYS + 1))
    db.session.commit()
    build = time.perf_counter() - t0
    # A typical tick: the hour that just finished, for every machine.
    db.session.execute(text("UPDATE rollup_progress SET rolled_to = rolled_to - interval '1 hour'"))
    db.session.commit()
    t0 = time.perf_counter()
    tick = roll_up()
    db.session.commit()
    hourly = time.perf_counter() - t0
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE reading_hours"))
        conn.execute(text("ANALYZE reading_days"))
    return {"hours": hours, "build_s": build, "tick_s": hourly, "tick_machines": tick.machines}


def timed(fn, runs):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def chart_times(now, runs, raw):
    """ms per 30-day chart of one machine (all metrics), machines taken across the plant."""
    from sqlalchemy import text

    from app.blueprints.machines.models import Machine
    from app.blueprints.telemetry.ranges import TimeRange
    from app.blueprints.telemetry.series import build_chart, chartable_metrics, metric_series
    from app.core.extensions import db

    ids = db.session.execute(text("SELECT id FROM machines ORDER BY id")).scalars().all()
    picks = iter(ids[(i * 37) % len(ids)] for i in range(runs + 2))
    time_range = TimeRange(now - timedelta(days=DAYS), now, "30d")

    def one():
        db.session.expire_all()
        machine = db.session.get(Machine, next(picks))
        if raw:
            until = machine.state.last_seen_at
            series = [metric_series(machine, m, time_range.start, time_range.end, until)
                      for m in chartable_metrics(machine)]
        else:
            series = build_chart(machine, time_range).series
        assert sum(s.stored for s in series) > 0
        db.session.rollback()

    one()  # warm: the first query of a kind pays for planning caches and imports
    return timed(one, runs)


def aggregate_times(now, runs, raw):
    from sqlalchemy import text

    from app.blueprints.telemetry.aggregates import plant_aggregates
    from app.core.extensions import db

    start = now - timedelta(days=DAYS)

    def one():
        if raw:
            rows = db.session.execute(text(RAW_SCAN_SQL), {"start": start, "end": now}).all()
        else:
            rows = plant_aggregates(start, now)
        assert len(rows) >= MACHINES * 5
        db.session.rollback()

    one()
    return timed(one, runs)


def machine_facts():
    from sqlalchemy import text

    from app.core.extensions import db

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "postgresql": db.session.execute(text("SHOW server_version")).scalar(),
            "load_1min": round(os.getloadavg()[0], 2)}


def row(name, figure, unit, target=None, met=None, note=""):
    return {"name": name, "figure": round(figure, 2) if isinstance(figure, float) else figure,
            "unit": unit, "target": target or "(info)", "met": met, "note": note}


def measure(quick):
    per_machine = 2_000 if quick else 20_000
    runs, raw_runs = (20, 3) if quick else (40, 3)
    now = datetime.now(UTC).replace(microsecond=0)
    count, seed_s = seed_readings(per_machine, now)
    log(f"seeded {count:,} readings in {seed_s:.0f} s")
    built = build_rollups(now)
    log(f"roll-ups: {built['hours']:,} metric-hours in {built['build_s']:.0f} s; one hourly "
        f"tick for {built['tick_machines']} machines in {built['tick_s'] * 1000:.0f} ms")
    chart = chart_times(now, runs, raw=False)
    log(f"30-day chart from roll-ups: p50 {pct(chart, 50):.1f} ms, p95 {pct(chart, 95):.1f} ms")
    chart_raw = chart_times(now, raw_runs, raw=True)
    log(f"30-day chart from readings: p50 {pct(chart_raw, 50):.0f} ms")
    plant = aggregate_times(now, runs, raw=False)
    log(f"plant 30-day figures from roll-ups: p50 {pct(plant, 50):.1f} ms, "
        f"p95 {pct(plant, 95):.1f} ms")
    plant_raw = aggregate_times(now, raw_runs, raw=True)
    log(f"plant 30-day raw scan: p50 {pct(plant_raw, 50):.0f} ms")
    target = f"p95 < {TARGET_MS:.0f} ms"
    return [
        row("readings in the table", count, "readings"),
        row("roll-up build, 30 days, all machines", built["build_s"], "s",
            note=f"{built['hours']:,} metric-hours"),
        row("roll-up job, one finished hour for every machine", built["tick_s"] * 1000, "ms",
            note=f"{built['tick_machines']} machines"),
        row("machine 30-day chart from roll-ups, p50", pct(chart, 50), "ms"),
        row("machine 30-day chart from roll-ups, p95", pct(chart, 95), "ms", target,
            pct(chart, 95) < TARGET_MS, f"{runs} machines, 6 metrics each"),
        row("machine 30-day chart from readings (raw), p50", pct(chart_raw, 50), "ms",
            note=f"{raw_runs} runs"),
        row("plant 30-day figures from roll-ups, p50", pct(plant, 50), "ms"),
        row("plant 30-day figures from roll-ups, p95", pct(plant, 95), "ms", target,
            pct(plant, 95) < TARGET_MS, f"{MACHINES} machines × 6 metrics, time-weighted"),
        row("plant 30-day raw scan (count/min/max/avg), p50", pct(plant_raw, 50), "ms",
            note=f"{raw_runs} runs"),
    ]


def print_table(rows, facts, quick):
    print()
    print(f"History (target 7){' --quick' if quick else ''}: {facts['cores']} cores, "
          f"{facts['cpu']}, PostgreSQL {facts['postgresql']}, load {facts['load_1min']}")
    print()
    print("| measurement | figure | unit | target | met | note |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        figure = f"{r['figure']:,.1f}" if isinstance(r["figure"], float) else f"{r['figure']:,}"
        met = {True: "PASS", False: "FAIL", None: "—"}[r["met"]]
        print(f"| {r['name']} | {figure} | {r['unit']} | {r['target']} | {met} | {r['note']} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M readings instead of 10 M")
    args = parser.parse_args()
    started = time.time()
    service = setup()
    try:
        from app import create_app

        app = create_app()
        with app.app_context():
            rows = measure(args.quick)
            facts = machine_facts()
        print_table(rows, facts, args.quick)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps({
            "bench": "history", "quick": args.quick,
            "run": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(time.time() - started), "machine": facts, "rows": rows},
            indent=2) + "\n")
        log(f"wrote {RESULTS.relative_to(ROOT)}")
        return 0 if all(r["met"] is not False for r in rows) else 1
    finally:
        if service is not None:
            service.stop()


if __name__ == "__main__":
    sys.exit(main())
