"""What the OEE series costs: keeping it on each count, and reading it back.

    .venv/bin/python bench/oee.py            # ~1 minute
    .venv/bin/python bench/oee.py --counts 100

What it does (docs/PERFORMANCE.md, "OEE series (issue 12)", has the numbers):
1. drops and creates the PostgreSQL database `floorline_bench_oee` (JIT off) and runs the
   migrations; Redis db 14 on 127.0.0.1:6379 if it answers, else a throwaway one;
2. makes 50 lines of 2 machines on a 3 × 8 weekday pattern with a product at 30 s;
3. times `record_count()` + commit (a count and the recompute of its hour, shift and day,
   machine and line) for counts spread over one past shift, and counts its SQL statements;
   and `record_count` into a bucket with 10 downtimes;
4. fills 30 days of stored series for all 50 lines (hour, shift and day rows, machines and
   lines; written directly, as values, not computed) and times reading them back: the day
   rows of all lines for 30 days, and one line's shift rows for 30 days.
Prints the table; nothing is written to the docs.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_redis, fresh_database, log, pct, run  # noqa: E402

BIN = Path(sys.executable).parent
DB_NAME = "floorline_bench_oee"
REDIS_URL = "redis://127.0.0.1:6379/14"
QUEUE = "floorline-bench-oee"
LINES = 50
DAYS = 30
SHIFT_START = datetime(2026, 11, 2, 5, tzinfo=UTC)  # Monday 2 Nov 2026, Early, 06:00 CET


def setup():
    dsn = fresh_database(DB_NAME)
    url, service = bench_redis(REDIS_URL, "/tmp/floorline-bench-oee-redis")
    env = {**os.environ, "DATABASE_URL": dsn, "REDIS_URL": url}
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    os.environ["DATABASE_URL"], os.environ["REDIS_URL"] = dsn, url
    # Calendar edits enqueue recompute jobs: into a queue of the bench's own, emptied at
    # the end, not a queue someone's worker reads.
    os.environ["RQ_QUEUE"] = QUEUE
    return service


def plant():
    from datetime import time as clock

    from app.blueprints.machines import services as machines
    from app.blueprints.machines.models import Line, Machine, MachineType
    from app.blueprints.production import setup as production
    from app.blueprints.production.models import Product, Shift, ShiftPattern
    from app.core.extensions import db

    machine_type = machines.save_machine_type(MachineType(), "Press")
    pattern = production.save_pattern(ShiftPattern(), "3 x 8", 7)
    for name, start, end in (("Early", 6, 14), ("Late", 14, 22), ("Night", 22, 6)):
        production.save_shift(pattern, Shift(), name, clock(start), clock(end), [1, 2, 3, 4, 5])
    product = production.save_product(Product(), "P-1", "Bracket")
    lines = []
    for n in range(LINES):
        line = machines.save_line(Line(), f"L{n:02d}", f"Line {n}")
        for m in range(2):
            machines.save_machine(Machine(), code=f"M{n:02d}-{m}", name=f"Machine {n}.{m}",
                                  machine_type=machine_type, line=line)
        production.assign_pattern(line, pattern, date(2026, 1, 1))
        production.set_ideal_cycle(product, 30, line=line)
        lines.append(line)
    db.session.commit()
    return lines, product


class Statements:
    def __init__(self, engine):
        from sqlalchemy import event
        self.n = 0
        event.listen(engine, "before_cursor_execute", self.count)

    def count(self, *args):
        self.n += 1


def time_counts(machine, product, counts, statements):
    from app.blueprints.production import services
    from app.core.extensions import db

    took, per = [], []
    for i in range(counts):
        at = SHIFT_START + timedelta(seconds=(i * 97) % (8 * 3600))
        before = statements.n
        t0 = time.perf_counter()
        services.record_count(machine, at, good=3, product=product)
        db.session.commit()
        took.append((time.perf_counter() - t0) * 1000)
        per.append(statements.n - before)
    return took, per


def fill_series(lines):
    """30 days of rows for every line and machine, as the refresh would leave them."""
    from sqlalchemy import insert

    from app.blueprints.production.models import OeeCalculation
    from app.core.extensions import db

    rows = []
    start = datetime(2026, 10, 1, tzinfo=UTC)
    for line in lines:
        for owner in [None, *[m.id for m in line.machines]]:
            for h in range(DAYS * 24):
                at = start + timedelta(hours=h)
                rows.append(_row(line.id, owner, "hour", at, at + timedelta(hours=1)))
            for s in range(DAYS * 3):
                at = start + timedelta(hours=8 * s)
                rows.append(_row(line.id, owner, "shift", at, at + timedelta(hours=8)))
            for d in range(DAYS):
                at = start + timedelta(days=d)
                rows.append(_row(line.id, owner, "day", at, at + timedelta(days=1)))
    for i in range(0, len(rows), 5000):
        db.session.execute(insert(OeeCalculation), rows[i:i + 5000])
    db.session.commit()
    return len(rows)


def _row(line_id, machine_id, period, start, end):
    planned = (end - start).total_seconds()
    return {"line_id": line_id, "machine_id": machine_id, "period": period,
            "starts_at": start, "ends_at": end, "label": start.isoformat(),
            "planned_seconds": planned, "planned_stop_seconds": 0,
            "downtime_seconds": planned * 0.1, "small_stop_seconds": 0,
            "run_seconds": planned * 0.9, "ideal_seconds": planned * 0.8,
            "total_count": 100, "good_count": 98, "reject_count": 2, "unrated_count": 0,
            "availability": 0.9, "performance": 0.8 / 0.9, "quality": 0.98,
            "oee": 0.8 * 0.98, "performance_over": False, "computed_at": end}


def time_reads(lines, repeats):
    from sqlalchemy import select

    from app.blueprints.production import oee
    from app.blueprints.production.models import OeeCalculation
    from app.core.extensions import db

    start = datetime(2026, 10, 1, tzinfo=UTC)
    end = start + timedelta(days=DAYS)
    every_line, one_line = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rows = db.session.scalars(select(OeeCalculation).where(
            OeeCalculation.period == "day", OeeCalculation.machine_id.is_(None),
            OeeCalculation.starts_at >= start, OeeCalculation.starts_at < end)).all()
        every_line.append((time.perf_counter() - t0) * 1000)
        assert len(rows) == LINES * DAYS
        db.session.rollback()
        t0 = time.perf_counter()
        rows = oee.series("shift", start, end, line_id=lines[0].id)
        one_line.append((time.perf_counter() - t0) * 1000)
        assert len(rows) == DAYS * 3
        db.session.rollback()
    return every_line, one_line


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    service = setup()
    from app import create_app
    from app.blueprints.production import services
    from app.core.extensions import db

    app = create_app()
    try:
        with app.app_context():
            lines, product = plant()
            statements = Statements(db.engine)
            machine = lines[0].machines[0]
            took, per = time_counts(machine, product, args.counts, statements)
            for k in range(10):  # ten short stops in the counted shift
                at = SHIFT_START + timedelta(minutes=30 * k + 5)
                services.record_downtime(machine, at, at + timedelta(minutes=3))
            db.session.commit()
            took_dt, per_dt = time_counts(machine, product, args.counts // 2, statements)
            n = fill_series(lines)
            log(f"{n} series rows written")
            every_line, one_line = time_reads(lines, args.repeats)
            from app.core.extensions import job_queue
            job_queue().empty()
    finally:
        if service:
            service.stop()
    print()
    print("| measure | p50 ms | p95 ms | statements |")
    print("|---|---|---|---|")
    print(f"| record_count + commit (hour, shift, day; machine and line) | "
          f"{statistics.median(took):.1f} | {pct(took, 95):.1f} | {statistics.median(per):.0f} |")
    print(f"| same, 10 downtimes in the shift | {statistics.median(took_dt):.1f} | "
          f"{pct(took_dt, 95):.1f} | {statistics.median(per_dt):.0f} |")
    print(f"| day rows of {LINES} lines × {DAYS} days ({LINES * DAYS} rows) | "
          f"{statistics.median(every_line):.1f} | {pct(every_line, 95):.1f} | 1 |")
    print(f"| one line's shift rows, {DAYS} days | {statistics.median(one_line):.1f} | "
          f"{pct(one_line, 95):.1f} | 1 |")


if __name__ == "__main__":
    main()
