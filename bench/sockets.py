"""Target 5: one web process holds 1,000 open /ws sockets while ordinary pages stay quick.

    .venv/bin/python -m bench.sockets [--quick] [--sockets 1000] [--worker-class gthread]

Seeds 500 machines (bench/seed.py) and starts ONE gunicorn worker with the Procfile's web
options (or `--worker-class gthread`: the old `-k gthread --threads 40`, for comparison).
Times `GET /auth/login` (100 requests; --quick 40) and the plant page `GET /` (40; --quick
20) on an idle process, then opens `--sockets` manager sockets as the plant page opens
them (`/ws?resync=tiles&since=…`) — raw WebSocket handshakes from one client thread, every
incoming frame drained by a selector so the client never pushes back — and times the
same requests again with all of them open. Memory per socket: the worker's RSS after
minus before, divided by the sockets that got their first frame.
"""

import argparse
import base64
import os
import selectors
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import log
from bench.live_setup import Plant, ms_summary, procfile_web_args, report

HANDSHAKE_WAIT = 180  # seconds for every socket to answer 101 and its first frame


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def time_gets(plant, path, count):
    # The login page as someone not logged in sees it; the plant page as the manager.
    cookie = "" if path.startswith("/auth/") else None
    conn = plant.connection()
    times = []
    try:
        for _ in range(5):
            plant.get(path, cookie=cookie, conn=conn)
        for _ in range(count):
            t0 = time.perf_counter()
            status, _ = plant.get(path, cookie=cookie, conn=conn)
            times.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")
    finally:
        conn.close()
    return ms_summary(times)


class Sockets:
    """Many raw WebSocket connections, opened at once and held, their frames drained."""

    def __init__(self, plant, count):
        self.plant, self.count = plant, count
        self.selector = selectors.DefaultSelector()
        self.state = {}   # sock -> {"buf": bytes, "open": bool, "frames": int}
        self.stop = threading.Event()

    def open(self):
        since = datetime.now(UTC).isoformat().replace("+", "%2B")
        for _ in range(self.count):
            sock = socket.create_connection(("127.0.0.1", self.plant.port), timeout=10)
            key = base64.b64encode(os.urandom(16)).decode()
            sock.sendall((f"GET /ws?resync=tiles&since={since} HTTP/1.1\r\n"
                          f"Host: 127.0.0.1:{self.plant.port}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                          f"Sec-WebSocket-Version: 13\r\nCookie: {self.plant.cookie}\r\n\r\n"
                          ).encode())
            sock.setblocking(False)
            self.state[sock] = {"buf": b"", "open": False, "frames": 0}
            self.selector.register(sock, selectors.EVENT_READ)
        deadline = time.monotonic() + HANDSHAKE_WAIT
        while time.monotonic() < deadline and self.ready() < self.count:
            self._drain(0.2)
        return self.ready()

    def ready(self):
        """Sockets upgraded that have received their first frame (the live dot)."""
        return sum(1 for s in self.state.values() if s["open"] and s["frames"])

    def _drain(self, timeout):
        for key, _ in self.selector.select(timeout):
            sock, st = key.fileobj, self.state[key.fileobj]
            try:
                data = sock.recv(65536)
            except (BlockingIOError, ConnectionError):
                continue
            if not data:
                self.selector.unregister(sock)
                continue
            if not st["open"]:
                st["buf"] += data
                if b"\r\n\r\n" in st["buf"]:
                    head, _, rest = st["buf"].partition(b"\r\n\r\n")
                    st["open"] = head.startswith(b"HTTP/1.1 101")
                    st["frames"] += bool(rest)
                    st["buf"] = b""
            else:
                st["frames"] += 1

    def hold(self):
        """Drain in a thread until stopped (the sockets stay open meanwhile)."""
        def loop():
            while not self.stop.is_set():
                self._drain(0.2)
        self.thread = threading.Thread(target=loop, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        if getattr(self, "thread", None):
            self.thread.join(timeout=5)
        for sock in self.state:
            sock.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--machines", type=int, default=500)
    parser.add_argument("--worker-class", choices=("procfile", "gthread"), default="procfile")
    args = parser.parse_args(argv)
    logins, pages = (40, 20) if args.quick else (100, 40)
    gunicorn = (procfile_web_args() if args.worker_class == "procfile" else
                ["-k", "gthread", "--threads", "40", "--no-control-socket"])
    with Plant("floorline_bench_sockets", machines=args.machines, workers=1,
               gunicorn_args=gunicorn) as plant:
        [worker] = plant.worker_pids()
        idle_login = time_gets(plant, "/auth/login", logins)
        idle_page = time_gets(plant, "/", pages)
        log(f"idle: login p95 {idle_login['p95']} ms, plant page p95 {idle_page['p95']} ms")
        rss_before = rss_kib(worker)
        held = Sockets(plant, args.sockets)
        t0 = time.perf_counter()
        ready = held.open()
        opened_s = time.perf_counter() - t0
        log(f"{ready} of {args.sockets} sockets open and live in {opened_s:.1f} s")
        held.hold()
        time.sleep(2)
        rss_after = rss_kib(worker)
        try:
            busy_login = time_gets(plant, "/auth/login", logins)
            busy_page = time_gets(plant, "/", pages)
        except (OSError, TimeoutError) as error:
            log(f"requests failed with the sockets open: {error!r}")
            busy_login = busy_page = {"p50": None, "p95": None}
        still = held.ready()
        held.close()
        errors = [line for line in plant.log_path.read_text().splitlines()
                  if "Error" in line or "Traceback" in line][:5]
        for line in errors:
            log(f"app log: {line}")
    per_socket = (rss_after - rss_before) / ready if ready else None
    log(f"with sockets: login p95 {busy_login['p95']} ms, plant page p95 {busy_page['p95']} ms;"
        f" {per_socket and round(per_socket)} KiB per socket")

    def within(busy, idle):
        return busy["p95"] is not None and busy["p95"] <= 2 * idle["p95"]

    rows = [
        {"figure": "sockets open and live in one web process", "value": ready, "unit": "",
         "target": f"{args.sockets}", "met": ready == args.sockets},
        {"figure": "GET /auth/login p95, idle → with the sockets", "unit": "ms",
         "value": f"{idle_login['p95']} → {busy_login['p95']}", "target": "≤ 2 × idle",
         "met": within(busy_login, idle_login)},
        {"figure": "GET / (500 tiles) p95, idle → with the sockets", "unit": "ms",
         "value": f"{idle_page['p95']} → {busy_page['p95']}", "target": "≤ 2 × idle",
         "met": within(busy_page, idle_page)},
        {"figure": "memory per open socket (worker RSS)", "unit": "KiB",
         "value": per_socket and round(per_socket), "target": "(info)", "met": None},
    ]
    ok = report("sockets" if args.worker_class == "procfile" else "sockets_gthread",
                f"Sockets (target 5), gunicorn {' '.join(plant.args)}", rows,
                {"idle": {"login": idle_login, "page": idle_page},
                 "with_sockets": {"login": busy_login, "page": busy_page},
                 "sockets_live_at_end": still, "open_seconds": round(opened_s, 1),
                 "rss_kib": {"before": rss_before, "after": rss_after}})
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
