"""Ingest throughput against a bare baseline measured side by side in the same run.

    .venv/bin/python -m bench.ingest            # ~2 minutes
    .venv/bin/python -m bench.ingest --quick    # ~1 minute
    .venv/bin/python -m bench.ingest --only single --profile

Targets (issue 10): (1) the single-reading webhook ≥ 0.5 × a bare Flask + INSERT endpoint
(bench/bare_app.py, same gunicorn settings), 8 clients; (2) the batched webhook ≥ 0.5 × a
bare set-based INSERT of the same rows (one execute_values and a commit per batch), at 500
and at 5,000 readings a batch, 4 clients each a gateway for its share of the machines. App
and baseline segments alternate (bare then app, then app then bare) over the rounds;
"measured" is the total over the rounds, the slowest and fastest round in brackets. Each
segment records the CPU every process group used (`other`: the rest of the machine, i.e.
other people's work — noise).

(R) Redis down: the app's Redis is a throwaway one on its own port; after (1) and (2) it is
stopped and single readings and a batch are sent again: every reading must be stored (counted
in PostgreSQL), the live update skipped and logged (counted in the app's log).
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import psycopg2.extras

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, stack
from bench.common import log
from bench.load import app_batch_segment, batch_plan, run_threads, single_plan, single_segment, split
from bench.servers import cpu_text, with_cpu
from scripts.services import start_redis

NAME = "ingest"


def bare_batch_segment(conns, plan, seconds=None):
    """The ceiling: one set-based INSERT per batch (execute_values, one statement), committed.

    `conns`: one open connection per client, kept across segments like a pool's.
    """
    sql = "INSERT INTO readings (machine_id, ts, received_at, values, source) VALUES %s"
    template = "(%s, %s, now(), %s, 'batch')"

    def client(conn, batches):
        sent = 0
        deadline = time.perf_counter() + seconds if seconds else None
        with conn.cursor() as cur:
            for rows in batches:
                if deadline and time.perf_counter() >= deadline:
                    break
                psycopg2.extras.execute_values(cur, sql, rows, template=template,
                                               page_size=len(rows))
                conn.commit()
                sent += len(rows)
        return sent

    elapsed, counts = run_threads(client, list(zip(conns, plan, strict=True)))
    sent = sum(counts)
    return {"readings": sent, "stored": sent, "seconds": elapsed, "per_s": sent / elapsed,
            "requests": sum(len(b) for b in plan)}


def measure_batches(ctx, args):
    log(f"(a) batch ingest: {args.batch_clients} clients, {args.ingest_seconds:g} s segments, "
        f"{args.rounds} rounds, bare/app interleaved")
    gen, machines = ctx["gen"], ctx["machines"]
    groups = split(machines, args.batch_clients) if not args.overlap else \
        [machines] * args.batch_clients
    # Bodies are prepared before the clock starts, for about 1.3 × what the last segment of
    # the same kind managed in the segment's time; a segment ends at its time or its plan.
    estimate = {"app": 20_000, "bare": 50_000}
    out = {batch: {"app": [], "bare": []} for batch in args.batch_sizes}
    conns = [psycopg2.connect(ctx["dsn"]) for _ in groups]
    try:
        _batch_rounds(ctx, args, gen, groups, estimate, out, conns)
    finally:
        for conn in conns:
            conn.close()
    return out


def _batch_rounds(ctx, args, gen, groups, estimate, out, conns):
    for rnd in range(args.rounds):
        for batch in args.batch_sizes:
            order = ("bare", "app") if rnd % 2 == 0 else ("app", "bare")
            for kind in order:
                last = out[batch][kind][-1]["per_s"] if out[batch][kind] else estimate[kind]
                total = int(min(last * args.ingest_seconds * 1.3, args.ingest_cap))
                plan = batch_plan(gen, groups, batch, total, bare=kind == "bare")
                if kind == "app":
                    profile = ctx["profiler"].start(f"batch{batch}", ctx["app"]) \
                        if rnd == 0 else None
                    seg = with_cpu(ctx, app_batch_segment, ctx["app"].port,
                                   ctx["ingest_key"], plan, args.ingest_seconds)
                    if profile:
                        profile.stop()
                else:
                    seg = with_cpu(ctx, bare_batch_segment, conns, plan,
                                   args.ingest_seconds)
                out[batch][kind].append(seg)
                log(f"    round {rnd + 1} batch {batch:>5} {kind:4}: {seg['per_s']:>9,.0f} "
                    f"readings/s ({seg['readings']:,} in {seg['seconds']:.2f} s)  "
                    f"{cpu_text(seg, seg['readings'] / 1000, 'k readings')}")
                if seg["stored"] != seg["readings"]:
                    log(f"    !! {seg['readings'] - seg['stored']:,} readings not stored")


def measure_single(ctx, args):
    log(f"(b) single-reading webhook: {args.clients} clients, {args.single_seconds} s "
        f"segments, {args.rounds} rounds, bare/app interleaved")
    gen, machines = ctx["gen"], ctx["machines"]
    groups = split(machines, args.clients)
    estimate = {"app": 1000, "bare": 2500}
    out = {"app": [], "bare": []}
    for rnd in range(args.rounds):
        order = ("bare", "app") if rnd % 2 == 0 else ("app", "bare")
        for kind in order:
            server = ctx["app"] if kind == "app" else ctx["bare"]
            last = out[kind][-1]["per_s"] if out[kind] else estimate[kind]
            per_client = int(min(last * 2, args.single_cap) * args.single_seconds
                             / args.clients) + 50
            plan = single_plan(gen, groups, server.port, per_client)
            profile = ctx["profiler"].start("single", server) \
                if kind == "app" and rnd == 0 else None
            seg = with_cpu(ctx, single_segment, server.port, plan, args.single_seconds)
            if profile:
                profile.stop()
            out[kind].append(seg)
            log(f"    round {rnd + 1} {kind:4}: {seg['per_s']:>7,.0f} req/s  "
                f"p50 {seg['p50_ms']:.1f} ms  p95 {seg['p95_ms']:.1f} ms  "
                f"{cpu_text(seg, seg['requests'] / 1000, 'k req')}")
            if seg["errors"]:
                log(f"    !! {kind}: {seg['errors']}")
    return out




# --- (R) Redis stopped ----------------------------------------------------------------------

def count_readings(dsn):
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM readings")
            return cur.fetchone()[0]
    finally:
        conn.close()


def measure_redis_down(ctx, args, redis_service):
    """Single readings for a segment with the app's Redis up, then stop it and send a
    segment of single readings and some batches: all must be stored, each commit's live
    update skipped with a warning in the app's log."""
    log(f"(R) Redis stopped: {args.clients} clients × {args.single_seconds:g} s of single "
        "readings with Redis up, then the same and 10 batches of 500 with it stopped")
    gen, machines, port = ctx["gen"], ctx["machines"], ctx["app"].port
    groups = split(machines, args.clients)
    per_client = int(3000 * args.single_seconds / args.clients) + 50
    up = single_segment(port, single_plan(gen, groups, port, per_client), args.single_seconds)
    before = count_readings(ctx["dsn"])
    logged_before = ctx["app"].log_text().count(SKIPPED)
    redis_service.stop()
    down = single_segment(port, single_plan(gen, groups, port, per_client),
                          args.single_seconds)
    plan = batch_plan(gen, split(machines, 2), 500, 5000)
    batches = app_batch_segment(port, ctx["ingest_key"], plan)
    sent = down["requests"] + batches["readings"]
    stored = count_readings(ctx["dsn"]) - before
    time.sleep(0.5)  # the log lines of the last requests
    logged = ctx["app"].log_text().count(SKIPPED) - logged_before
    result = {"sent": sent, "stored": stored, "errors": down["errors"],
              "commits": down["requests"] + batches["requests"], "logged": logged,
              "single_per_s": down["per_s"], "single_up_per_s": up["per_s"],
              "single_p95_ms": down["p95_ms"], "single_up_p95_ms": up["p95_ms"]}
    log(f"    Redis up {up['per_s']:,.0f} req/s, stopped {down['per_s']:,.0f} req/s; "
        f"{stored:,} of {sent:,} readings stored; {logged:,} skipped updates logged for "
        f"{result['commits']:,} commits; errors {down['errors'] or 0}")
    return result


SKIPPED = "not sent: Redis unavailable"


# --- report ---------------------------------------------------------------------------------

def aggregate(segments):
    total = sum(s["readings"] if "readings" in s else s["requests"] for s in segments)
    seconds = sum(s["seconds"] for s in segments)
    rates = [s["per_s"] for s in segments]
    return {"per_s": total / seconds, "min": min(rates), "max": max(rates), "rounds": rates}


def _spread(a):
    return f"{a['per_s']:,.0f} ({a['min']:,.0f}–{a['max']:,.0f})"


def build_rows(results, args):
    rows = []
    for batch, kinds in results.get("batch", {}).items():
        app, bare = aggregate(kinds["app"]), aggregate(kinds["bare"])
        ratio = app["per_s"] / bare["per_s"]
        rows.append(report.row(
            f"(2) batch webhook, {batch} a batch, {args.batch_clients} clients", _spread(app),
            "readings/s", "≥ 0.5 × bare", ratio >= 0.5, value=app["per_s"],
            baseline=_spread(bare), ratio=ratio))
    if "single" in results:
        app, bare = aggregate(results["single"]["app"]), aggregate(results["single"]["bare"])
        ratio = app["per_s"] / bare["per_s"]
        rows.append(report.row(
            f"(1) single-reading webhook, {args.clients} clients", _spread(app), "req/s",
            "≥ 0.5 × bare", ratio >= 0.5, value=app["per_s"], baseline=_spread(bare),
            ratio=ratio))
    down = results.get("redis_down")
    if down:
        rows.append(report.row(
            "(R) Redis stopped: readings stored / sent",
            f"{down['stored']:,} / {down['sent']:,}", "readings", "all stored",
            down["stored"] == down["sent"] and not down["errors"], value=down["stored"]))
        rows.append(report.row(
            "(R) Redis stopped: live updates skipped and logged", f"{down['logged']:,}",
            "log lines", "≥ 1 per commit", down["logged"] >= down["commits"],
            value=down["logged"]))
        rows.append(report.row(
            "(R) Redis stopped: single-reading webhook", f"{down['single_per_s']:,.0f}",
            "req/s", "(info)", None, value=down["single_per_s"],
            baseline=f"{down['single_up_per_s']:,.0f} with Redis up",
            ratio=down["single_per_s"] / down["single_up_per_s"]
            if down["single_up_per_s"] else None))
    return rows


def cpu_table(results):
    """CPU ms per 1,000 readings (a) or requests (b) by process group, all rounds summed."""
    lines = ["CPU used per 1,000 readings (batch) or requests (single), ms, all rounds "
             "(`other` = the rest of the machine: other people's work, i.e. noise):", "",
             "| segment | server (Python) | PostgreSQL | Redis | bench client | other |",
             "|---|---|---|---|---|---|"]
    segments = [(f"batch {b} {k}", segs, "readings")
                for b, kinds in results.get("batch", {}).items()
                for k, segs in sorted(kinds.items())]
    segments += [(f"single {k}", segs, "requests")
                 for k, segs in sorted(results.get("single", {}).items())]
    for label, segs, unit in segments:
        units = sum(s[unit] for s in segs) / 1000
        total = {}
        for seg in segs:
            for key, value in (seg.get("cpu_s") or {}).items():
                total[key] = total.get(key, 0.0) + value
        server = total.get("app", 0.0) if label.endswith("app") else total.get("bare", 0.0)
        cells = [server, total.get("postgres", 0.0), total.get("redis", 0.0),
                 total.get("client", 0.0), total.get("other", 0.0)]
        lines.append(f"| {label} | " + " | ".join(f"{c * 1000 / units:.0f}" for c in cells)
                     + " |")
    return lines if len(lines) > 4 else []


# --- main -----------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stack.add_arguments(p)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[500, 5000])
    p.add_argument("--batch-clients", type=int, default=4,
                   help="concurrent batch senders (each a gateway for its share of machines)")
    p.add_argument("--overlap", action="store_true",
                   help="every batch client sends for all machines (they contend for the "
                        "state-row locks) instead of a disjoint share")
    p.add_argument("--ingest-seconds", type=float, default=4.0, help="batch segment length")
    p.add_argument("--ingest-cap", type=int, default=400_000,
                   help="most readings a batch segment prepares")
    p.add_argument("--clients", type=int, default=8, help="single-reading clients")
    p.add_argument("--single-seconds", type=float, default=5.0, help="single segment length")
    p.add_argument("--single-cap", type=int, default=6000,
                   help="most requests/s a single segment prepares bodies for")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    p.add_argument("--only", nargs="+", choices=["batch", "single", "redis-down"],
                   default=["batch", "single", "redis-down"])
    args = p.parse_args(argv)
    if args.quick:
        args.ingest_seconds, args.single_seconds, args.rounds = 2.0, 2.0, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    results = {}
    # A Redis of the bench's own, so (R) can stop it without disturbing anyone.
    redis_service = start_redis(Path(tempfile.mkdtemp(prefix="floorline-bench-redis-")))
    try:
        with stack.running(args, bare=True, redis_url=redis_service.url) as ctx:
            facts = ctx["machine"]
            if "batch" in args.only:
                results["batch"] = measure_batches(ctx, args)
            if "single" in args.only:
                results["single"] = measure_single(ctx, args)
            if "redis-down" in args.only:
                results["redis_down"] = measure_redis_down(ctx, args, redis_service)
    finally:
        redis_service.stop()
    rows = build_rows(results, args)
    config = {k: v for k, v in vars(args).items() if k != "admin_dsn"}
    return report.finish(NAME, rows, facts, title="Ingest (targets 1, 2)",
                         detail=cpu_table(results), raw=results, config=config,
                         write=not args.no_write, seconds=time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
