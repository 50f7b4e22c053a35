"""The processes a bench runs and watches: gunicorn servers on free ports, a keep-alive
HTTP client cheap enough not to steal the server's CPU on two cores, py-spy recordings and
the CPU each process group uses during a segment.

Clients are kept cheap: request bodies and signatures are built before the clock starts, and
requests go over a minimal HTTP/1.1 client on raw sockets (requests.Session costs ~0.5 ms of
client CPU per request, which on two cores is the server's time).
"""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.common import ROOT, log

BIN = Path(sys.executable).parent
# The Procfile's settings, so the bench measures what `make run` serves.
GUNICORN_ARGS = ["--workers", "2", "-k", "gthread", "--threads", "40", "--no-control-socket"]


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

    def log_text(self):
        self.log_file.flush()
        try:
            return self.log_path.read_text()
        except OSError:
            return ""

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

def cpu_text(seg, units, unit):
    """CPU ms per unit by process group, e.g. 'CPU ms/k readings: app 30 pg 12 …'."""
    cpu = seg.get("cpu_s") or {}
    parts = [f"{k} {v * 1000 / units:.0f}" for k, v in cpu.items()
             if v * 1000 / max(units, 1e-9) >= 0.5]
    return f"CPU ms/{unit}: " + " ".join(parts)
