"""`make run`: one command that starts the whole app locally.

Prepares the instance (Redis, secret key, database schema, demo data), then runs every
Procfile process under honcho until Ctrl-C or SIGTERM, and stops what it started.
Environment: DATABASE_URL (default SQLite in instance/), REDIS_URL (default: a Redis we
start), SECRET_KEY (default: kept in instance/secret_key), WEB_PORT (8000), HOST.
"""

import os
import secrets
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import services
from honcho.environ import parse_procfile
from honcho.manager import Manager

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"


def hide_password(url):
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def instance_secret(name):
    """A random secret made once and kept in instance/<name>, so it survives restarts
    (the session key; the plant's batch ingest key)."""
    path = INSTANCE / name
    if not path.exists():
        # O_EXCL + mode 0600: never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    path.chmod(0o600)
    return path.read_text().strip()


def flask(env, *args):
    """Run a Flask CLI command; on failure show its output and stop here."""
    cmd = [sys.executable, "-m", "flask", "--app", "wsgi", *args]
    result = subprocess.run(cmd, check=False, cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"\n`flask --app wsgi {' '.join(args)}` failed (exit {result.returncode}):\n"
                 f"{result.stdout}{result.stderr}")
    return result.stdout


def port_in_use(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def banner(env, redis_note, processes):
    db = env.get("DATABASE_URL")
    db = hide_password(db) if db else f"SQLite, {INSTANCE / 'floorline.db'}"
    lines = [
        f"Floorline is running:  {env['PUBLIC_BASE_URL']}",
        f"  database: {db}",
        f"  redis:    {hide_password(env['REDIS_URL'])} ({redis_note})",
        f"  processes: {', '.join(processes)} (from Procfile)",
        f"  log in as admin / {env.get('DEMO_PASSWORD', 'demo-floor-2026')} "
        "(every demo user above has that password)",
        "Press Ctrl-C to stop everything.",
    ]
    width = max(map(len, lines))
    print("\n".join(["=" * width, *lines, "=" * width]), flush=True)


def run_procfile(env, processes):
    """Run every Procfile process; returns honcho's exit code."""
    manager = Manager()
    for name, cmd in processes.items():
        manager.add_process(name, cmd, env=env, cwd=str(ROOT))
    manager.loop()  # handles SIGINT/SIGTERM itself: stops all children, then returns
    return manager.returncode


def main():
    # SIGTERM before honcho takes over: exit through Python so atexit stops Redis.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    os.chdir(ROOT)
    INSTANCE.mkdir(exist_ok=True)

    env = dict(os.environ)
    # Procfile commands (gunicorn, rq) live next to this interpreter in the venv.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach honcho's pipes as they happen
    env.setdefault("OMP_THREAD_LIMIT", "1")  # tesseract's OpenMP oversubscribes 2 cores
    port = int(env.setdefault("WEB_PORT", "8000"))
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")
    if port_in_use(port):
        sys.exit(f"Port {port} is already in use: stop that server or set WEB_PORT=8001.")

    redis = None
    if env.get("REDIS_URL"):
        redis_note = "given in REDIS_URL"
    else:
        redis = services.start_redis(INSTANCE / "redis")
        env["REDIS_URL"] = redis.url
        redis_note = f"started by us: {services.redis_binary()}, stops with the app"
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = instance_secret("secret_key")
    if not env.get("INGEST_KEY"):
        env["INGEST_KEY"] = instance_secret("ingest_key")

    print("Upgrading the database schema ...", flush=True)
    flask(env, "db", "upgrade")
    print("Loading the demo plant ...", flush=True)
    print(flask(env, "demo", "load"), flush=True)

    processes = parse_procfile((ROOT / "Procfile").read_text()).processes
    banner(env, redis_note, processes)
    code = run_procfile(env, processes)
    if redis is not None:
        redis.stop()
    # Stopped by Ctrl-C/SIGTERM (honcho's 130/143) is a clean exit; a crash is not.
    if code in (130, 143):
        print("Floorline stopped.", flush=True)
        return 0
    print(f"A process exited (code {code}), so everything was stopped; see the log above.")
    return code or 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C during setup, before honcho handles signals
        sys.exit(130)
    except RuntimeError as error:  # a service that would not start: say why, no traceback
        sys.exit(f"run.py: {error}")
