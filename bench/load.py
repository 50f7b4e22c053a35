"""The clients that post readings, shared by the scenarios: machines, readings whose values
always change, signed request bodies built before the clock starts, and the segments that
send them (batches, single readings) from threads started behind one barrier."""

import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.servers import Http, build_request


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


def summary_ms(seconds):
    ms = [s * 1000 for s in seconds]
    return {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99),
            "max": max(ms) if ms else float("nan"), "min": min(ms) if ms else float("nan")}


def pct(values, p):
    """Percentile by linear interpolation (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)

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


# --- what the clients send ------------------------------------------------------------------

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
