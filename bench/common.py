"""What every bench does before it measures: a fresh database, a Redis, a log line."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(msg, stream=None):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=stream or sys.stdout, flush=True)


def fresh_database(name, jit=False):
    """Drop and create `name`; its DSN. JIT off unless asked: planning big statements with
    JIT is a hazard on these OLTP paths, not a help (see docs/PERFORMANCE.md, History)."""
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
        if not jit:
            cur.execute(f"ALTER DATABASE {name} SET jit = off")
    conn.close()
    return ADMIN_DSN.rsplit("/", 1)[0] + "/" + name


def redis_answers(url):
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def bench_redis(url, scratch):
    """(url, service): the Redis at `url` if it answers, else a throwaway one started in
    `scratch` (service is then the process to stop), on the same database number."""
    if redis_answers(url):
        return url, None
    from scripts.services import start_redis
    service = start_redis(Path(scratch))
    return service.url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1], service


def run(cmd, env, cwd=ROOT):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}")
    return done


def pct(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
