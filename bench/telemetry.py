"""Telemetry benchmark: ingest throughput, live latency and the plant page, in one run.

    .venv/bin/python bench/telemetry.py              # everything, ~3 minutes
    .venv/bin/python bench/telemetry.py --quick      # smaller sizes, ~1 minute
    .venv/bin/python bench/telemetry.py --profile    # also py-spy the app's workers

What it does (docs/PERFORMANCE.md explains the method and the latest numbers):
1. drops and creates the PostgreSQL database `floorline_bench`, runs the migrations, seeds
   500 machines of one type (six number metrics) on lines, and a production manager;
2. starts the app (wsgi:app) and a bare baseline (bench/bare_app.py) under gunicorn with the
   Procfile's settings, each on a free port, and always stops them at the end;
3. measures (a) the batch webhook against a bare set-based INSERT of the same rows,
   (b) the single-reading webhook against the bare endpoint, (c) stored → tile fragment on a
   real /ws socket, (d) the plant page `GET /` for the manager, (e) (c) again while a
   gateway posts a batch every second and more plant pages are open — with the CPU each
   process group used in every segment;
4. prints the result table, writes bench/results/latest.json (the latest run per --app)
   and that app's results block in docs/PERFORMANCE.md.

PostgreSQL's JIT is switched off for the bench database unless --jit (see the doc).

Clients are kept cheap so they do not steal the server's CPU on a 2-core machine: request
bodies and signatures are built before the clock starts, and requests go over a minimal
keep-alive HTTP/1.1 client on raw sockets (requests.Session costs ~0.5 ms of client CPU per
request, which on two cores is the server's time).
"""

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg2
import psycopg2.extras
import requests
from redis import Redis
from simple_websocket import Client as WsClient

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results" / "latest.json"
DOC = ROOT / "docs" / "PERFORMANCE.md"
BIN = Path(sys.executable).parent
DB_NAME = "floorline_bench"
MANAGER = "bench-manager"
PASSWORD = "bench-" + secrets.token_hex(8)
GUNICORN_ARGS = ["--workers", "2", "-k", "gthread", "--threads", "40", "--no-control-socket"]
DEFAULT_APP = "wsgi:app"


def block_markers(app_spec):
    """The docs/PERFORMANCE.md block a run of `app_spec` rewrites (one per app spec)."""
    name = "results" if app_spec == DEFAULT_APP else f"results {app_spec}"
    return (f"<!-- bench:{name}:start (written by bench/telemetry.py) -->",
            f"<!-- bench:{name}:end -->")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- a minimal keep-alive HTTP client ------------------------------------------------------

class _Closed(Exception):
    """The server closed an idle keep-alive connection before answering: safe to resend."""


def build_request(method, path, port, body=b"", headers=None):
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}",
            f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


class Http:
    """HTTP/1.1 over one keep-alive socket; send() takes a complete request's bytes."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def _connect(self):
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None

    def send(self, raw):
        """(status, body bytes)."""
        for attempt in (0, 1):
            if self.sock is None:
                self._connect()
            try:
                self.sock.sendall(raw)
                return self._read()
            except (_Closed, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _recv(self):
        chunk = self.sock.recv(262144)
        if not chunk:
            if not self.buf:
                raise _Closed()
            raise ConnectionError("connection closed mid-response")
        self.buf += chunk

    def _read(self):
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            size = int(headers[b"content-length"])
            while len(self.buf) < size:
                self._recv()
            body, self.buf = self.buf[:size], self.buf[size:]
        elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = self._read_chunked()
        else:  # body until close
            while True:
                try:
                    self._recv()
                except (_Closed, ConnectionError):
                    break
            body, self.buf = self.buf, b""
            self.close()
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, body

    def _read_chunked(self):
        parts = []
        while True:
            while b"\r\n" not in self.buf:
                self._recv()
            size_line, _, self.buf = self.buf.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._recv()
            parts.append(self.buf[:size])
            self.buf = self.buf[size + 2:]
            if size == 0:
                return b"".join(parts)


# --- processes ----------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A gunicorn subprocess in its own process group; stop() always ends it."""

    def __init__(self, name, app_spec, port, env, logdir, chdir=None):
        self.name, self.port = name, port
        self.log_path = Path(logdir) / f"{name}.log"
        cmd = [str(BIN / "gunicorn"), *GUNICORN_ARGS, "--bind", f"127.0.0.1:{port}"]
        if chdir:
            cmd += ["--chdir", str(chdir)]
        cmd.append(app_spec)
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            try:
                if requests.get(f"http://127.0.0.1:{self.port}{path}", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready in {timeout} s:\n{self.tail()}")

    def worker_pids(self):
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(p) for p in children.split()]

    def tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=15)
        # Whatever is left of this server's own process group (a worker stuck on a socket).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=5)
        self.log_file.close()


# --- data ---------------------------------------------------------------------------------

def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Machine:
    __slots__ = ("code", "id", "n", "secret")

    def __init__(self, id_, code, secret):
        self.id, self.code, self.secret, self.n = id_, code, secret, 0


class Readings:
    """Readings whose values always change (so every one is stored), each with a new ts.

    Every machine's device time advances 10 ms a reading from half an hour ago (but not
    before this month began, so rows land in the month's partition), so app and baseline
    runs never collide on the (machine_id, ts) key.
    """

    STEP = timedelta(milliseconds=10)

    def __init__(self, seed=7):
        now = datetime.now(UTC)
        month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        self.t0 = max(now - timedelta(minutes=30), month + timedelta(seconds=1))
        self.rnd = random.Random(seed)

    def ts(self, machine):
        machine.n += 1
        return (self.t0 + self.STEP * machine.n).isoformat().replace("+00:00", "Z")

    def values(self, machine):
        r = self.rnd
        return {"temperature": round(r.uniform(35, 68), 2),
                "spindle_speed": r.randrange(8000, 14000),
                "vibration": round(r.uniform(0.5, 6.5), 3),
                "power": round(r.uniform(3, 25), 2),
                "coolant_pressure": round(r.uniform(2.5, 7.5), 2),
                "part_count": machine.n}

    def reading(self, machine):
        ts = self.ts(machine)
        return {"machine": machine.code, "ts": ts, "values": self.values(machine)}

    def now_reading(self, machine):
        """A reading at the current time (for latency: newer than anything stored)."""
        machine.n += 1
        ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return {"machine": machine.code, "ts": ts, "values": self.values(machine)}


def dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def split(machines, parts):
    return [machines[i::parts] for i in range(parts)]


def pct(values, p):
    """Percentile by linear interpolation (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


# --- (a) batch ingest ---------------------------------------------------------------------

def batch_plan(gen, groups, batch, total, bare=False):
    """Per client: a list of batches over that client's machines (at least one batch each).

    For the app a batch is a list of reading dicts; for the bare insert, of
    (machine_id, ts, values JSON) rows: the same rows, ready for execute_values.
    """
    plan = []
    per_client = max(total // len(groups), batch)
    for group in groups:
        batches, done, i = [], 0, 0
        while done < per_client:
            size = min(batch, per_client - done)
            readings = []
            for _ in range(size):
                machine = group[i % len(group)]
                if bare:
                    readings.append((machine.id, gen.ts(machine),
                                     json.dumps(gen.values(machine))))
                else:
                    readings.append(gen.reading(machine))
                i += 1
            batches.append(readings)
            done += size
        plan.append(batches)
    return plan


def run_threads(target, args_per_thread):
    """Start one thread per args tuple behind a barrier; returns (elapsed, results)."""
    barrier = threading.Barrier(len(args_per_thread) + 1)
    results = [None] * len(args_per_thread)
    errors = []

    def body(index, args):
        try:
            barrier.wait()
            results[index] = target(*args)
        except Exception as exc:  # reported, not swallowed
            errors.append(exc)
            results[index] = None

    threads = [threading.Thread(target=body, args=(i, a), daemon=True)
               for i, a in enumerate(args_per_thread)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed, results


def app_batch_segment(port, ingest_key, plan, seconds=None):
    """Each client posts its batches back to back (keep-alive) until `seconds` are up."""
    requests_per_client = []
    for batches in plan:
        raws = []
        for readings in batches:
            body = dumps({"readings": readings})
            raws.append((len(readings), build_request("POST", "/api/v1/ingest", port, body, {
                "Content-Type": "application/json",
                "X-Floorline-Signature": sign(ingest_key, body)})))
        requests_per_client.append(raws)

    def client(raws):
        http = Http(port)
        sent = stored = requests_done = 0
        deadline = time.perf_counter() + seconds if seconds else None
        try:
            for count, raw in raws:
                if deadline and time.perf_counter() >= deadline:
                    break
                status, body = http.send(raw)
                if status != 202:
                    raise RuntimeError(f"batch ingest answered {status}: {body[:300]!r}")
                sent += count
                stored += json.loads(body)["stored"]
                requests_done += 1
        finally:
            http.close()
        return sent, stored, requests_done

    elapsed, counts = run_threads(client, [(r,) for r in requests_per_client])
    sent = sum(c[0] for c in counts)
    return {"readings": sent, "stored": sum(c[1] for c in counts), "seconds": elapsed,
            "per_s": sent / elapsed, "requests": sum(c[2] for c in counts)}


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


# --- (b) single-reading webhook -----------------------------------------------------------

def single_plan(gen, groups, port, count_per_client):
    plan = []
    for group in groups:
        raws = []
        for i in range(count_per_client):
            machine = group[i % len(group)]
            body = dumps(gen.reading(machine))
            raws.append(build_request("POST", "/api/v1/ingest", port, body, {
                "Content-Type": "application/json",
                "X-Floorline-Signature": sign(machine.secret, body)}))
        plan.append(raws)
    return plan


def single_segment(port, plan, seconds):
    """Each client sends its prepared requests one after another until `seconds` are up."""

    def client(raws):
        http = Http(port)
        latencies, errors = [], Counter()
        deadline = time.perf_counter() + seconds
        try:
            for raw in raws:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    break
                status, _ = http.send(raw)
                latencies.append(time.perf_counter() - t0)
                if status != 202:
                    errors[status] += 1
            else:
                errors["plan exhausted"] += 1
        finally:
            http.close()
        return latencies, errors

    # The clock of a segment: from the barrier to the last client's last answer.
    elapsed, results = run_threads(client, [(r,) for r in plan])
    latencies = [x for lat, _ in results for x in lat]
    errors = sum((e for _, e in results), Counter())
    return {"requests": len(latencies), "seconds": elapsed,
            "per_s": len(latencies) / elapsed, "errors": dict(errors),
            "p50_ms": pct(latencies, 50) * 1000, "p95_ms": pct(latencies, 95) * 1000}


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


# --- (c) stored → tile on a real websocket ------------------------------------------------

def session_cookie(port, username, password):
    """Log in through the real login form (like tests/realtime/test_live.py) and return Cookie."""
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


def cpu_text(seg, units, unit):
    """CPU ms per unit by process group, e.g. 'CPU ms/k readings: app 30 pg 12 …'."""
    cpu = seg.get("cpu_s") or {}
    parts = [f"{k} {v * 1000 / units:.0f}" for k, v in cpu.items()
             if v * 1000 / max(units, 1e-9) >= 0.5]
    return f"CPU ms/{unit}: " + " ".join(parts)


def summary_ms(seconds):
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99),
            "max": max(ms) if ms else float("nan"), "min": min(ms) if ms else float("nan")}


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


# --- profiling ----------------------------------------------------------------------------

class Profiler:
    """py-spy on the workers of one server during one segment (with --profile)."""

    def __init__(self, outdir, mode="gil"):
        self.outdir = Path(outdir) if outdir else None
        self.mode = mode
        self.py_spy = shutil.which("py-spy") or str(BIN / "py-spy")

    def start(self, label, server):
        if self.outdir is None:
            return None
        return _Recording(self.py_spy, self.outdir, f"{label}-{self.mode}",
                          server.worker_pids(), self.mode)


class _Recording:
    """gil: only the thread holding the GIL (where the CPU goes); wall: every thread,
    waiting included (where the time goes)."""

    def __init__(self, py_spy, outdir, label, pids, mode):
        outdir.mkdir(parents=True, exist_ok=True)
        self.files = [outdir / f"{label}-{pid}.txt" for pid in pids]
        flag = "--gil" if mode == "gil" else "--idle"
        self.procs = [subprocess.Popen(
            [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
             flag, "--output", str(path), "--nonblocking"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for pid, path in zip(pids, self.files, strict=True)]
        time.sleep(0.5)

    def stop(self):
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log(f"    profile written: {', '.join(str(f) for f in self.files)}")


# --- where the CPU goes ------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid):
    """utime + stime of one process (all its threads), in seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _pids_named(name):
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def _machine_busy():
    """Busy CPU seconds of the whole machine since boot (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


class CpuMeter:
    """CPU seconds used during a segment by: the app's gunicorn, the bare one, PostgreSQL
    (every postgres process: other users of the server count too), Redis and this client.
    Short-lived PostgreSQL backends that end inside a segment are missed (none here: every
    client keeps its connection)."""

    def __init__(self, ctx):
        self.ctx = ctx

    def snapshot(self):
        snap = {"client": sum(os.times()[:2])}
        for name in ("app", "bare"):
            server = self.ctx.get(name)
            if server is not None:
                snap[name] = sum(_proc_cpu(p) for p in [server.proc.pid, *server.worker_pids()])
        # Per process: a backend of someone else's that ends mid-segment must not count
        # as negative CPU.
        snap["postgres"] = {p: _proc_cpu(p) for p in _pids_named("postgres")}
        snap["redis"] = {p: _proc_cpu(p) for p in _pids_named("redis-server")}
        snap["machine"] = _machine_busy()
        return snap

    @staticmethod
    def delta(before, after):
        """CPU seconds per group; `other`: the rest of the machine (noise: other users)."""
        out = {}
        for key, value in after.items():
            if key == "machine":
                continue
            if isinstance(value, dict):
                old = before.get(key, {})
                out[key] = round(sum(v - old.get(p, 0.0) for p, v in value.items()
                                     if v >= old.get(p, 0.0)), 3)
            else:
                out[key] = round(value - before.get(key, 0.0), 3)
        busy = after["machine"] - before["machine"]
        out["other"] = round(max(0.0, busy - sum(out.values())), 3)
        return out


def with_cpu(ctx, fn, *args, **kwargs):
    """Run one segment and add the CPU each process group used to its result."""
    before = ctx["cpu"].snapshot()
    result = fn(*args, **kwargs)
    result["cpu_s"] = CpuMeter.delta(before, ctx["cpu"].snapshot())
    return result


# --- setup ----------------------------------------------------------------------------------

def create_database(admin_dsn, dsn_for, jit):
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {DB_NAME}")
        if not jit:
            # The app's duplicate check (a row-value IN list of every reading in a batch)
            # gets planned above jit_above_cost once the table holds ~2 M rows; LLVM then
            # compiles a 5,000-branch expression for many minutes, deaf to
            # pg_cancel_backend/pg_terminate_backend (seen here: 16 min, blocking other
            # databases' CREATE/DROP DATABASE). See docs/PERFORMANCE.md.
            cur.execute(f"ALTER DATABASE {DB_NAME} SET jit = off")
    conn.close()
    return dsn_for(DB_NAME)


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


def machine_facts(dsn, redis_url):
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text()
                          .splitlines() if line.startswith("MemTotal")))
    except (OSError, StopIteration):
        mem_kb = 0
    conn = psycopg2.connect(dsn)
    with conn.cursor() as cur:
        cur.execute("SHOW server_version")
        pg = cur.fetchone()[0]
    conn.close()
    redis_version = Redis.from_url(redis_url).info("server").get("redis_version", "?")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "config.py"],
                               cwd=ROOT, capture_output=True, text=True).stdout.strip()
        commit = (commit + (" + uncommitted changes in app/" if dirty else "")) or "?"
    except OSError:
        commit = "?"
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu,
            "cores": os.cpu_count(), "ram_gib": round(mem_kb / 1024 / 1024, 1),
            "postgresql": pg, "redis": redis_version, "python": platform.python_version(),
            "os": platform.platform(terse=True), "app_commit": commit,
            "gunicorn": " ".join(GUNICORN_ARGS)}


def setup(args, ctx, env, tmp):
    dsn = create_database(args.admin_dsn, lambda name: re.sub(r"/[^/]*$", f"/{name}",
                                                              args.admin_dsn), args.jit)
    ctx["dsn"] = dsn
    env["DATABASE_URL"] = dsn
    t0 = time.perf_counter()
    run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], env)
    log(f"database {DB_NAME} migrated ({time.perf_counter() - t0:.1f} s)")
    t0 = time.perf_counter()
    run([sys.executable, str(BENCH / "seed.py"), "--machines", str(args.machines),
         "--manager", MANAGER, "--password", PASSWORD], env)
    ctx["machines"] = load_machines(dsn)
    log(f"seeded {len(ctx['machines'])} machines and the manager "
        f"({time.perf_counter() - t0:.1f} s)")
    ctx["app"] = Server("app", args.app, free_port(), env, tmp)
    ctx["bare"] = Server("bare", "bare_app:app", free_port(), env, tmp, chdir=BENCH)
    ctx["app"].wait_ready("/auth/login")
    ctx["bare"].wait_ready("/health")
    log(f"app on :{ctx['app'].port} (workers {ctx['app'].worker_pids()}), bare on "
        f":{ctx['bare'].port}")


def warm_up(ctx, args):
    """Every machine gets a state (and both workers their pools) before anything is timed."""
    gen, machines = ctx["gen"], ctx["machines"]
    port = ctx["app"].port
    for _ in range(3):  # three readings each: states exist, trends start
        plan = batch_plan(gen, split(machines, 2), 500, len(machines) * 2)
        app_batch_segment(port, ctx["ingest_key"], plan)
    single_segment(port, single_plan(gen, split(machines, 4), port, 50), 1.0)
    bare = ctx["bare"].port
    single_segment(bare, single_plan(gen, split(machines, 4), bare, 50), 1.0)
    ctx["cookie"] = session_cookie(port, MANAGER, PASSWORD)
    log("warmed up: every machine has a state, both servers answered")


# --- report ---------------------------------------------------------------------------------

def aggregate(segments):
    total = sum(s["readings"] if "readings" in s else s["requests"] for s in segments)
    seconds = sum(s["seconds"] for s in segments)
    rates = [s["per_s"] for s in segments]
    return {"per_s": total / seconds, "min": min(rates), "max": max(rates),
            "rounds": rates}


def build_table(results):
    rows = []
    for batch, kinds in results.get("batch", {}).items():
        app, bare = aggregate(kinds["app"]), aggregate(kinds["bare"])
        ratio = app["per_s"] / bare["per_s"]
        ok = app["per_s"] >= 10_000 and ratio >= 0.5
        rows.append((f"(a) batch webhook, {batch}/batch (readings/s)",
                     f"{app['per_s']:,.0f} ({app['min']:,.0f}–{app['max']:,.0f})",
                     f"{bare['per_s']:,.0f} ({bare['min']:,.0f}–{bare['max']:,.0f})",
                     f"{ratio:.2f}", "≥ 10,000/s and ≥ 0.5×", ok))
    if "single" in results:
        app, bare = aggregate(results["single"]["app"]), aggregate(results["single"]["bare"])
        ratio = app["per_s"] / bare["per_s"]
        n = results["config"]["clients"]
        rows.append((f"(b) single-reading webhook, {n} clients (req/s)",
                     f"{app['per_s']:,.0f} ({app['min']:,.0f}–{app['max']:,.0f})",
                     f"{bare['per_s']:,.0f} ({bare['min']:,.0f}–{bare['max']:,.0f})",
                     f"{ratio:.2f}", "≥ 0.5×", ratio >= 0.5))
    if "latency" in results:
        lat = results["latency"]
        st, sf = lat["stored_to_frame_ms"], lat["send_to_frame_ms"]
        rows.append(("(c) stored → tile frame on /ws, p95 (p50)",
                     f"{st['p95']:.1f} ms ({st['p50']:.1f} ms)", "—", "—", "p95 < 100 ms",
                     st["p95"] < 100 and lat["frames_missing"] == 0))
        rows.append(("(c) send → tile frame on /ws, p95 (p50)",
                     f"{sf['p95']:.1f} ms ({sf['p50']:.1f} ms)", "—", "—", "(info)", None))
    if "page" in results:
        page = results["page"]
        rows.append((f"(d) GET / manager, {page['tiles']} tiles, p95 (p50)",
                     f"{page['p95']:.1f} ms ({page['p50']:.1f} ms)", "—", "—", "p95 < 50 ms",
                     page["p95"] < 50))
    if "latency_load" in results:
        lat = results["latency_load"]
        st, g = lat["stored_to_frame_ms"], lat["gateway"]
        rows.append((f"(e) stored → tile, {lat['other_screens'] + 1} plant pages, gateway "
                     f"batch of {g['batch_size']} every {g['every_s']:g} s, p95 (p50)",
                     f"{st['p95']:.0f} ms ({st['p50']:.0f} ms), {lat['frames_missing']} missing",
                     "—", "—", "(info: (c) under load)", None))
    return rows


def verdict(ok):
    return "—" if ok is None else ("PASS" if ok else "FAIL")


def print_table(rows):
    headers = ("metric", "measured", "baseline", "ratio", "target", "result")
    cells = [headers] + [(*r[:5], verdict(r[5])) for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(6)]
    line = "  ".join("-" * w for w in widths)
    print()
    for i, c in enumerate(cells):
        print("  ".join(str(v).ljust(w) for v, w in zip(c, widths, strict=True)))
        if i == 0:
            print(line)
    print()


def markdown_block(results, rows):
    facts = results["machine"]
    cfg = results["config"]
    start, end = block_markers(cfg["app"])
    out = [start, "",
           f"Run: {facts['date']} — `{cfg['command']}` — app `{cfg['app']}`, "
           f"{results['seconds']:.0f} s", "",
           "| metric | measured | baseline | ratio | target | result |",
           "|---|---|---|---|---|---|"]
    out += [f"| {' | '.join(str(x) for x in r[:5])} | {verdict(r[5])} |" for r in rows]
    out += ["", "Measured values are totals over all rounds (readings or requests ÷ seconds); "
                "brackets give the slowest–fastest round.", "",
            "| machine | |", "|---|---|",
            f"| CPU | {facts['cpu']} |", f"| cores | {facts['cores']} |",
            f"| RAM | {facts['ram_gib']} GiB |", f"| OS | {facts['os']} |",
            f"| PostgreSQL | {facts['postgresql']} (bench database: "
            f"jit = {'on' if cfg['jit'] else 'off'}) |", f"| Redis | {facts['redis']} |",
            f"| Python | {facts['python']} |", f"| gunicorn | `{facts['gunicorn']}` |",
            f"| app commit | {facts.get('app_commit', '?')} |",
            f"| data | {cfg['machines']} machines × 6 number metrics; (a) "
            f"{cfg['ingest_seconds']:g} s segments, {cfg['batch_clients']} clients; "
            f"(b) {cfg['clients']} clients × {cfg['single_seconds']} s; {cfg['rounds']} rounds |",
            "", *cpu_table(results),
            "", f"Raw numbers: `bench/results/latest.json` (key `{cfg['app']}`).", "", end]
    return "\n".join(out)


def cpu_table(results):
    """CPU ms per 1,000 readings (a) or requests (b) by process group, all rounds summed."""
    lines = ["CPU used per 1,000 readings (a) or requests (b), ms, all rounds "
             "(`other` = the rest of the machine: other users' load, i.e. noise):", "",
             "| segment | server (Python) | PostgreSQL | Redis | bench client | other |",
             "|---|---|---|---|---|---|"]
    segments = [(f"(a) batch {b} {k}", segs, "readings")
                for b, kinds in results.get("batch", {}).items()
                for k, segs in sorted(kinds.items())]
    segments += [(f"(b) single {k}", segs, "requests")
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


def write_doc(block, app_spec):
    start, end = block_markers(app_spec)
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if start in text and end in text:
        before = text.split(start)[0]
        after = text.split(end, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def clean(obj):
    """JSON-safe: NaN → None, int keys → str."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, float):
        return None if obj != obj else round(obj, 3)
    return obj


# --- main ---------------------------------------------------------------------------------

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Floorline telemetry benchmark (see module doc).")
    p.add_argument("--machines", type=int, default=500)
    p.add_argument("--app", default=DEFAULT_APP,
                   help="the WSGI app gunicorn serves (bench.proposed_wsgi:app: the prototype "
                        "of the recommended ingest changes)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[500, 5000])
    p.add_argument("--batch-clients", type=int, default=4,
                   help="concurrent batch senders (each a gateway for its share of machines)")
    p.add_argument("--overlap", action="store_true",
                   help="every batch client sends for all machines (they contend for the "
                        "state-row locks) instead of a disjoint share")
    p.add_argument("--ingest-seconds", type=float, default=4.0, help="(a) segment length")
    p.add_argument("--ingest-cap", type=int, default=400_000,
                   help="(a) most readings a segment prepares")
    p.add_argument("--clients", type=int, default=8, help="(b) concurrent clients")
    p.add_argument("--single-seconds", type=float, default=5.0, help="(b) segment length")
    p.add_argument("--single-cap", type=int, default=6000,
                   help="(b) most requests/s a segment prepares bodies for")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of (a) and (b)")
    p.add_argument("--latency-readings", type=int, default=150)
    p.add_argument("--latency-interval", type=float, default=0.1)
    p.add_argument("--ws-path", default="/ws?resync=tiles",
                   help="(c) the socket URL, as the plant page opens it")
    p.add_argument("--page-requests", type=int, default=100)
    p.add_argument("--load-every", type=float, default=1.0,
                   help="(e) seconds between the gateway's batches (one reading a machine)")
    p.add_argument("--load-seconds", type=float, default=15.0, help="(e) length")
    p.add_argument("--load-probes", type=int, default=20,
                   help="(e) machines kept out of the batches, for the probe readings")
    p.add_argument("--load-probe-interval", type=float, default=0.25)
    p.add_argument("--load-screens", type=int, default=4,
                   help="(e) plant pages open besides the measuring one")
    p.add_argument("--only", nargs="+",
                   choices=["batch", "single", "latency", "load", "page"],
                   default=["batch", "single", "latency", "load", "page"])
    p.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    p.add_argument("--profile", nargs="?", const="/tmp/floorline-bench-profile",
                   default=None, metavar="DIR",
                   help="py-spy the app's workers in round 1 of (a) and (b) (raw stacks)")
    p.add_argument("--profile-mode", choices=["gil", "wall"], default="gil",
                   help="gil: CPU (the thread holding the GIL); wall: all threads, waits too")
    p.add_argument("--admin-dsn", default=os.environ.get(
        "BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--redis-url", default=os.environ.get(
        "BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"))
    p.add_argument("--jit", action="store_true",
                   help="leave PostgreSQL JIT on for the bench database (off by default: "
                        "the app's duplicate check can JIT-compile for minutes, see "
                        "docs/PERFORMANCE.md)")
    p.add_argument("--keep-logs", action="store_true",
                   help="keep the servers' logs (a temp dir; its path is printed)")
    p.add_argument("--no-write", action="store_true",
                   help="do not touch bench/results/ or docs/PERFORMANCE.md")
    args = p.parse_args(argv)
    if args.quick:
        args.ingest_seconds, args.single_seconds, args.rounds = 2.0, 2.0, 1
        args.latency_readings, args.page_requests = 40, 30
        args.load_seconds = 8.0
    return args


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()
    ingest_key = secrets.token_hex(16)
    env = {**os.environ, "REDIS_URL": args.redis_url, "SECRET_KEY": secrets.token_hex(16),
           "INGEST_KEY": ingest_key,
           # Our own channels: other apps on the same Redis neither see nor disturb ours.
           "LIVE_CHANNEL_PREFIX": f"bench{os.getpid()}-live",
           "PYTHONUNBUFFERED": "1"}
    ctx = {"gen": Readings(), "ingest_key": ingest_key,
           "profiler": Profiler(args.profile, args.profile_mode)}
    ctx["cpu"] = CpuMeter(ctx)
    results = {"config": {**{k: v for k, v in vars(args).items() if k != "admin_dsn"},
                          "command": " ".join(["bench/telemetry.py", *(argv or sys.argv[1:])])}}
    tmp = tempfile.mkdtemp(prefix="floorline-bench-")
    servers = []
    failed = False

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    try:
        setup(args, ctx, env, tmp)
        servers = [ctx["app"], ctx["bare"]]
        results["machine"] = machine_facts(ctx["dsn"], args.redis_url)
        warm_up(ctx, args)
        if "batch" in args.only:
            results["batch"] = measure_batches(ctx, args)
        if "single" in args.only:
            results["single"] = measure_single(ctx, args)
        if "page" in args.only:
            results["page"] = measure_page(ctx, args)
        if "latency" in args.only:
            results["latency"] = measure_latency_idle(ctx, args)
        if "load" in args.only:
            results["latency_load"] = measure_latency_loaded(ctx, args)
    except BaseException:
        failed = True
        for server in [s for s in (ctx.get("app"), ctx.get("bare")) if s]:
            print(f"--- {server.name} log tail ---\n{server.tail()}", file=sys.stderr)
        raise
    finally:
        for server in [s for s in (ctx.get("app"), ctx.get("bare")) if s] or servers:
            server.stop()
        if failed or args.keep_logs:
            log(f"server logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    results["seconds"] = time.perf_counter() - started
    rows = build_table(results)
    print_table(rows)
    log(f"total {results['seconds']:.0f} s")
    if not args.no_write:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        # One small file: the latest run of each app spec.
        try:
            stored = json.loads(RESULTS.read_text())
        except (OSError, ValueError):
            stored = {}
        results["table"] = [(*r[:5], verdict(r[5])) for r in rows]
        stored[args.app] = clean(results)
        RESULTS.write_text(json.dumps(stored, indent=1) + "\n")
        write_doc(markdown_block(results, rows), args.app)
        log(f"wrote {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")
    return 0 if all(r[5] is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
