"""The plant page and the live path under gunicorn: stored → tile on a real /ws socket, the
plant page `GET /` with 500 tiles, and stored → tile again under plant load.

    .venv/bin/python -m bench.plant            # ~1.5 minutes
    .venv/bin/python -m bench.plant --quick

(c) A manager's socket opened as the plant page opens it (`/ws?resync=tiles`), then single
readings on random machines one every 100 ms; "stored" is when the 202 arrives, "frame" when
the first frame with that machine's tile arrives. (d) `GET /` as the manager on one keep-alive
connection, 10 warm-up requests then the timed ones. (e) (c) while a gateway posts one reading
for each of 480 machines every second and 4 more plant pages keep their sockets open; the
probes go to the 20 machines left out of the batches.
"""

import argparse
import json
import random
import re
import sys
import threading
import time
from pathlib import Path

from simple_websocket import Client as WsClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import report, stack
from bench.common import log
from bench.load import dumps, sign, summary_ms
from bench.servers import CpuMeter, Http, build_request, cpu_text

NAME = "plant"


TILE_RE = re.compile(r'id="machine-(\d+)-tile"')


def open_socket(ctx, args):
    """A manager's socket opened as the plant page opens it; returns (ws, connect facts)."""
    # base.html: ws-connect="/ws?resync=tiles": the socket sends tiles only to a page that
    # said it shows tiles, and first brings them up to date.
    port = ctx["app"].port
    t_connect = time.perf_counter()
    ws = WsClient.connect(f"ws://127.0.0.1:{port}{args.ws_path}",
                          headers={"Cookie": ctx["cookie"]})
    hello = ws.receive(timeout=10)
    if not hello or 'id="live-dot"' not in hello:
        raise RuntimeError(f"first frame is not the live dot: {hello!r}")
    t_hello = time.perf_counter()
    facts = {"connect_ms": (t_hello - t_connect) * 1000, "resync_ms": None, "resync_tiles": 0}
    if "resync=" in args.ws_path:
        # Then the page's current state: every tile, rendered in one frame.
        resync = ws.receive(timeout=30)
        facts["resync_ms"] = (time.perf_counter() - t_hello) * 1000
        facts["resync_tiles"] = len(TILE_RE.findall(resync or ""))
    return ws, facts


class Gateway(threading.Thread):
    """Background load for (e): one batch with a reading per machine every `every` s."""

    def __init__(self, ctx, machines, every, seconds):
        super().__init__(daemon=True)
        self.port, self.every = ctx["app"].port, every
        self.raws = []
        for _ in range(int(seconds / every) + 3):
            body = dumps({"readings": [ctx["gen"].now_reading(m) for m in machines]})
            self.raws.append(build_request("POST", "/api/v1/ingest", self.port, body, {
                "Content-Type": "application/json",
                "X-Floorline-Signature": sign(ctx["ingest_key"], body)}))
        self.stop = threading.Event()
        self.times, self.errors = [], []

    def run(self):
        http = Http(self.port)
        start = time.perf_counter()
        try:
            for i, raw in enumerate(self.raws):
                pause = start + i * self.every - time.perf_counter()
                if pause > 0 and self.stop.wait(pause):
                    return
                if self.stop.is_set():
                    return
                t0 = time.perf_counter()
                status, _body = http.send(raw)
                self.times.append(time.perf_counter() - t0)
                if status != 202:
                    self.errors.append(status)
        finally:
            http.close()


class Screen(threading.Thread):
    """Another plant page left open: a socket whose frames are read and dropped."""

    def __init__(self, ctx, args):
        super().__init__(daemon=True)
        self.ws, self.facts = open_socket(ctx, args)
        self.stop = threading.Event()
        self.frames = 0

    def run(self):
        while not self.stop.is_set():
            try:
                if self.ws.receive(timeout=0.5) is not None:
                    self.frames += 1
            except Exception:  # closed
                return

    def close(self):
        self.stop.set()
        self.join(timeout=5)
        self.ws.close()


def measure_latency(ctx, args, label="c", probes=None, count=None, interval=None,
                    gateway=None, screens=0):
    """Single readings one at a time on `probes`; each one's tile frame timed on a socket."""
    machines = ctx["machines"]
    others = [Screen(ctx, args) for _ in range(screens)]
    for screen in others:
        screen.start()
    probes = probes or machines
    count = count or args.latency_readings
    interval = interval or args.latency_interval
    port = ctx["app"].port
    ws, facts = open_socket(ctx, args)
    log(f"    socket: live dot after {facts['connect_ms']:.0f} ms, resync of "
        f"{facts['resync_tiles']} tiles after {facts['resync_ms'] or 0:.0f} ms more")
    frames = []  # (arrival, machine id)
    stop = threading.Event()
    closed = []

    def receiver():
        while not stop.is_set():
            try:
                data = ws.receive(timeout=0.5)
            except Exception as exc:  # closed by the server
                closed.append(repr(exc))
                return
            if data is None:
                continue
            now = time.perf_counter()
            frames.append((now, [int(mid) for mid in TILE_RE.findall(data)]))

    thread = threading.Thread(target=receiver, daemon=True)
    thread.start()
    if gateway is not None:
        gateway.start()
    gen = ctx["gen"]
    http = Http(port)
    sends = []  # (machine id, sent, answered)
    rnd = random.Random(11)
    chosen = rnd.sample(probes, min(count, len(probes)))
    chosen += [probes[i % len(probes)] for i in range(count - len(chosen))]
    start = time.perf_counter()
    try:
        for i, machine in enumerate(chosen):
            pause = start + i * interval - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            body = dumps(gen.now_reading(machine))
            raw = build_request("POST", "/api/v1/ingest", port, body, {
                "Content-Type": "application/json",
                "X-Floorline-Signature": sign(machine.secret, body)})
            t0 = time.perf_counter()
            status, answer = http.send(raw)
            t1 = time.perf_counter()
            if status != 202 or json.loads(answer)["stored"] != 1:
                raise RuntimeError(f"reading not stored: {status} {answer[:200]!r}")
            sends.append((machine.id, t0, t1))
        if gateway is not None:
            gateway.stop.set()
        time.sleep(2.0)  # the last frames
    finally:
        if gateway is not None:
            gateway.stop.set()
            gateway.join(timeout=30)
        stop.set()
        thread.join(timeout=5)
        http.close()
        ws.close()
        for screen in others:
            screen.close()
    stored_to_frame, send_to_frame, missing = [], [], 0
    for machine_id, t0, t1 in sends:
        arrival = next((t for t, ids in frames if t >= t0 and machine_id in ids), None)
        if arrival is None:
            missing += 1
            continue
        stored_to_frame.append(arrival - t1)
        send_to_frame.append(arrival - t0)
    if closed and not stop.is_set():
        log(f"    !! the socket closed early: {closed[0]}")
    result = {"readings": len(sends), "frames_missing": missing, "socket_closed": closed,
              **facts, "frames": len(frames),
              "stored_to_frame_ms": summary_ms(stored_to_frame),
              "send_to_frame_ms": summary_ms(send_to_frame),
              "frame_before_answer": sum(1 for x in stored_to_frame if x < 0),
              "other_screens": len(others)}
    if gateway is not None:
        result["gateway"] = {"batches": len(gateway.times), "errors": gateway.errors,
                             "batch_size": len(machines) - len(probes),
                             "every_s": gateway.every,
                             "response_ms": summary_ms(gateway.times)}
    log(f"    stored → frame p50 {result['stored_to_frame_ms']['p50']:.1f} ms, "
        f"p95 {result['stored_to_frame_ms']['p95']:.1f} ms; send → frame p50 "
        f"{result['send_to_frame_ms']['p50']:.1f} ms, p95 "
        f"{result['send_to_frame_ms']['p95']:.1f} ms; missing {missing}")
    return result


def measure_latency_idle(ctx, args):
    log(f"(c) stored → tile: {args.latency_readings} single readings, one every "
        f"{args.latency_interval * 1000:.0f} ms, one manager socket")
    return measure_latency(ctx, args)


def measure_latency_loaded(ctx, args):
    machines = ctx["machines"]
    probes, rest = machines[:args.load_probes], machines[args.load_probes:]
    count = int(args.load_seconds / args.load_probe_interval)
    log(f"(e) stored → tile under plant load: a gateway posts a batch of {len(rest)} "
        f"readings (one per machine) every {args.load_every:g} s; {count} single readings "
        f"on {len(probes)} other machines, one every {args.load_probe_interval * 1000:.0f} ms; "
        f"{args.load_screens} more plant pages open")
    gateway = Gateway(ctx, rest, args.load_every, args.load_seconds)
    result = measure_latency(ctx, args, "e", probes, count, args.load_probe_interval, gateway,
                             screens=args.load_screens)
    g = result["gateway"]
    log(f"    gateway: {g['batches']} batches, response p50 {g['response_ms']['p50']:.0f} ms "
        f"p95 {g['response_ms']['p95']:.0f} ms, errors {g['errors'] or 0}")
    return result


# --- (d) the plant page -------------------------------------------------------------------

def measure_page(ctx, args):
    log(f"(d) GET / as the manager: {args.page_requests} requests, keep-alive, sequential")
    port = ctx["app"].port
    raw = build_request("GET", "/", port, headers={"Cookie": ctx["cookie"]})
    http = Http(port)
    times, size, tiles = [], 0, 0
    profile = None
    try:
        for i in range(args.page_requests + 10):
            if i == 10:
                profile = ctx["profiler"].start("page", ctx["app"])
                cpu_before = ctx["cpu"].snapshot()
            t0 = time.perf_counter()
            status, body = http.send(raw)
            elapsed = time.perf_counter() - t0
            if status != 200:
                raise RuntimeError(f"GET / answered {status}")
            if i >= 10:  # the first ten warm both workers' caches
                times.append(elapsed)
            size, tiles = len(body), body.count(b"-tile\"")
    finally:
        http.close()
        if profile:
            profile.stop()
    result = {"requests": len(times), "bytes": size, "tiles": tiles, **summary_ms(times),
              "cpu_s": CpuMeter.delta(cpu_before, ctx["cpu"].snapshot())}
    log(f"    p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms, {tiles} tiles, "
        f"{size / 1024:.0f} KiB  {cpu_text(result, len(times), 'page')}")
    return result


# --- main -----------------------------------------------------------------------------------

def build_rows(results):
    rows = []
    if "latency" in results:
        lat = results["latency"]
        st, sf = lat["stored_to_frame_ms"], lat["send_to_frame_ms"]
        rows.append(report.row("(c) stored → tile frame on /ws, p95 (p50)",
                               f"{st['p95']:.1f} ({st['p50']:.1f})", "ms", "p95 < 100 ms",
                               st["p95"] < 100 and lat["frames_missing"] == 0, value=st["p95"]))
        rows.append(report.row("(c) send → tile frame on /ws, p95 (p50)",
                               f"{sf['p95']:.1f} ({sf['p50']:.1f})", "ms", value=sf["p95"]))
    if "page" in results:
        page = results["page"]
        rows.append(report.row(f"(3) GET / manager, {page['tiles']} tiles, p95 (p50)",
                               f"{page['p95']:.1f} ({page['p50']:.1f})", "ms", "p95 < 25 ms",
                               page["p95"] < 25, value=page["p95"]))
    if "latency_load" in results:
        lat = results["latency_load"]
        st, g = lat["stored_to_frame_ms"], lat["gateway"]
        rows.append(report.row(
            f"(4) stored → tile, {lat['other_screens'] + 1} plant pages, gateway batch of "
            f"{g['batch_size']} every {g['every_s']:g} s, p95 (p50)",
            f"{st['p95']:.0f} ({st['p50']:.0f}), {lat['frames_missing']} missing", "ms",
            "p95 < 50 ms, 0 missing", st["p95"] < 50 and lat["frames_missing"] == 0,
            value=st["p95"]))
    return rows


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stack.add_arguments(p)
    p.add_argument("--latency-readings", type=int, default=150)
    p.add_argument("--latency-interval", type=float, default=0.1)
    p.add_argument("--ws-path", default="/ws?resync=tiles",
                   help="the socket URL, as the plant page opens it")
    p.add_argument("--page-requests", type=int, default=100)
    p.add_argument("--load-every", type=float, default=1.0,
                   help="(e) seconds between the gateway's batches (one reading a machine)")
    p.add_argument("--load-seconds", type=float, default=15.0, help="(e) length")
    p.add_argument("--load-probes", type=int, default=20,
                   help="(e) machines kept out of the batches, for the probe readings")
    p.add_argument("--load-probe-interval", type=float, default=0.25)
    p.add_argument("--load-screens", type=int, default=4,
                   help="(e) plant pages open besides the measuring one")
    p.add_argument("--only", nargs="+", choices=["latency", "load", "page"],
                   default=["latency", "load", "page"])
    args = p.parse_args(argv)
    if args.quick:
        args.latency_readings, args.page_requests, args.load_seconds = 40, 30, 8.0
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    results = {}
    with stack.running(args) as ctx:
        facts = ctx["machine"]
        if "page" in args.only:
            results["page"] = measure_page(ctx, args)
        if "latency" in args.only:
            results["latency"] = measure_latency_idle(ctx, args)
        if "load" in args.only:
            results["latency_load"] = measure_latency_loaded(ctx, args)
    config = {k: v for k, v in vars(args).items() if k != "admin_dsn"}
    return report.finish(NAME, build_rows(results), facts, title="Plant page and live path",
                         raw=results, config=config, write=not args.no_write,
                         seconds=time.perf_counter() - started)


if __name__ == "__main__":
    sys.exit(main())
