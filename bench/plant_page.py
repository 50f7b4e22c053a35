"""Target 3: the plant page with 500 machines, server time p95 < 25 ms.

    .venv/bin/python -m bench.plant_page [--quick] [--compare REV]

Seeds 500 machines on 10 lines (bench/seed.py), gives every machine a reading (one gateway
batch), starts the app under gunicorn with the Procfile's web settings, then times
`GET /` as the production manager on one keep-alive connection: 10 warm-up pages, then
200 (--quick: 60) sequential ones — round trips on loopback, i.e. server time plus well
under a millisecond for the ~560 KiB body. Then the same while a gateway posts a reading
for every machine every second (every tile changes: each page after a batch draws the
changed tiles again), to show the cost when the cache is cold. With `--compare REV` the
idle measurement alternates (3 rounds) between this checkout and REV's app (a temporary
git worktree, same database, same gunicorn options), so a busy machine slows both alike.
"""

import argparse
import threading
import time

from bench.common import log
from bench.live_setup import Plant, dumps, ms_summary, report, worktree

TARGET_MS = 25


def time_pages(plant, count):
    conn = plant.connection()
    times, sizes = [], set()
    try:
        for _ in range(10):
            plant.get("/", conn=conn)
        for _ in range(count):
            t0 = time.perf_counter()
            status, body = plant.get("/", conn=conn)
            times.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"GET / answered {status}")
            sizes.add(len(body))
    finally:
        conn.close()
    tiles = body.count(b'class="tile ')
    return ms_summary(times), tiles, max(sizes)


def compare(plant, rev, pages):
    """{"this": summary, rev: summary}: idle pages alternating between the two apps."""
    times = {"this": [], rev: []}
    with worktree(rev) as base:
        for _ in range(3):
            for name, root in (("this", None), (rev, base)):
                plant.stop()
                plant.start(**({"root": root} if root else {}))
                summary, _, _ = time_pages(plant, pages // 3)
                times[name].append(summary)
                log(f"  {name}: p50 {summary['p50']} ms, p95 {summary['p95']} ms")
    plant.stop()
    plant.start()
    return {name: {"p95_rounds": [r["p95"] for r in rounds],
                   "p50_rounds": [r["p50"] for r in rounds]} for name, rounds in times.items()}


def gateway_batches(plant, stop, every=1.0):
    conn = plant.connection()
    key = plant.env["INGEST_KEY"]
    sent = 0
    while not stop.is_set():
        t0 = time.perf_counter()
        body = dumps({"readings": [plant.reading(m) for m in plant.machines]})
        status, _ = plant.post_readings(conn, body, key)
        if status != 202:
            raise RuntimeError(f"batch answered {status}")
        sent += 1
        stop.wait(max(0, every - (time.perf_counter() - t0)))
    conn.close()
    return sent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--compare", metavar="REV", help="also time REV's page, alternating")
    args = parser.parse_args(argv)
    pages = 60 if args.quick else 200
    with Plant("floorline_bench_page", machines=args.machines) as plant:
        conn = plant.connection()
        body = dumps({"readings": [plant.reading(m) for m in plant.machines]})
        status, _ = plant.post_readings(conn, body, plant.env["INGEST_KEY"])
        conn.close()
        if status != 202:
            raise RuntimeError(f"first batch answered {status}")
        log(f"GET / × {pages}, idle plant")
        idle, tiles, size = time_pages(plant, pages)
        log(f"  p50 {idle['p50']} ms, p95 {idle['p95']} ms, {tiles} tiles, {size} bytes")
        stop = threading.Event()
        feeder = threading.Thread(target=gateway_batches, args=(plant, stop), daemon=True)
        feeder.start()
        log(f"GET / × {pages // 2}, a reading for every machine every second")
        busy, _, _ = time_pages(plant, pages // 2)
        stop.set()
        feeder.join(timeout=10)
        log(f"  p50 {busy['p50']} ms, p95 {busy['p95']} ms")
        side_by_side = compare(plant, args.compare, pages) if args.compare else None
    rows = [
        {"figure": f"GET / manager, {tiles} tiles, p95 (p50)", "value": idle["p95"],
         "p50": idle["p50"], "unit": "ms", "target": f"p95 < {TARGET_MS} ms",
         "met": idle["p95"] < TARGET_MS},
        {"figure": "GET / while every machine reports every second, p95 (p50)",
         "value": busy["p95"], "p50": busy["p50"], "unit": "ms", "target": "(info)",
         "met": None},
    ]
    if side_by_side:
        for name, r in side_by_side.items():
            rows.append({"figure": f"GET / idle, {name}, p95 per round", "unit": "ms",
                         "value": " / ".join(map(str, r["p95_rounds"])), "target": "(info)",
                         "met": None})
    ok = report("plant_page", "Plant page (target 3)", rows,
                {"idle": idle, "busy": busy, "body_bytes": size, "machines": args.machines,
                 "compare": side_by_side})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
