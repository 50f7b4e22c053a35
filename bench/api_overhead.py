"""What API keys, rate limits and Idempotency-Key add to an API call, in-process.

    .venv/bin/python bench/api_overhead.py            # ~1 minute
    .venv/bin/python bench/api_overhead.py --calls 100

Recreates the database `floorline_bench_api` (JIT off), migrates it, makes 25 machines, a
production manager and a viewer API key, uses Redis db 14 (or a throwaway Redis), then
times calls through Flask's test client (no HTTP, no gunicorn: the app's own cost). The
variants take turns call by call (after 20 untimed rounds), so a noisy neighbour on the
machine slows them all alike. Prints one table (ms per call).
"""

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import bench_redis, fresh_database, log, pct


def _app(dsn, redis_url):
    from app import create_app
    from config import Config, sqlalchemy_url

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = sqlalchemy_url(dsn)
        REDIS_URL = redis_url
        API_REDIS_PREFIX = f"bench:api:{uuid.uuid4().hex[:8]}"
        PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"
        JWT_SECRET_KEY = "bench-jwt-key-long-enough-for-hmac-sha256"
        API_RATE_LIMIT_PER_MINUTE = 10**9

    return create_app(BenchConfig)


def _seed(app):
    from flask_migrate import upgrade

    from app.blueprints.auth import keys, services
    from app.blueprints.machines import services as machines
    from app.blueprints.machines.models import Machine, MachineType
    from app.core.extensions import db

    with app.app_context():
        upgrade()
        admin = services.create_account("admin", "bench-admin", "bench password 1")
        services.create_account("production_manager", "bench-pm", "bench password 1")
        machine_type = machines.save_machine_type(MachineType(), "Press")
        for n in range(25):
            machines.save_machine(Machine(), code=f"P-{n:02}", name=f"Press {n}",
                                  machine_type=machine_type)
        _, secret = keys.create_api_key(admin, "BI", "viewer")
        db.session.commit()
        return secret, machine_type.id


def _time_in_turns(app, variants, n):
    """{label: [ms, ...]}: each round calls every variant once, in order."""
    times = {label: [] for label, _, _ in variants}
    for round_number in range(20 + n):
        for label, setting, call in variants:
            app.config["API_RATE_LIMIT_PER_MINUTE"] = setting
            start = time.perf_counter()
            response = call()
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code < 300, response.get_data(as_text=True)[:300]
            if round_number >= 20:
                times[label].append(elapsed)
        if round_number == 19:
            gc.collect()
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    dsn = fresh_database("floorline_bench_api")
    redis_url, service = bench_redis("redis://127.0.0.1:6379/14", tempfile.mkdtemp())
    try:
        app = _app(dsn, redis_url)
        secret, type_id = _seed(app)
        gc.freeze()
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={
            "username": "bench-pm", "password": "bench password 1"}).json["access_token"]
        jwt_headers = {"Authorization": f"Bearer {token}"}
        codes = iter(range(10**6))

        def list_with(headers):
            return lambda: client.get("/api/v1/machines?per_page=10", headers=headers)

        def create(key=None):
            headers = dict(jwt_headers)
            if key == "fresh":
                headers["Idempotency-Key"] = uuid.uuid4().hex
            body = {"code": f"B-{next(codes)}", "name": "Bench", "machine_type_id": type_id}
            return client.post("/api/v1/machines", json=body, headers=headers)

        replay_body = {"code": "B-REPLAY", "name": "Bench", "machine_type_id": type_id}

        def replay():
            return client.post("/api/v1/machines", json=replay_body,
                               headers={**jwt_headers, "Idempotency-Key": "same"})

        variants = [
            ("GET /machines, access token, no rate limit", 0, list_with(jwt_headers)),
            ("GET /machines, access token, rate limited", 10**9, list_with(jwt_headers)),
            ("GET /machines, API key (X-API-Key), rate limited", 10**9,
             list_with({"X-API-Key": secret})),
            ("POST /machines, no Idempotency-Key", 10**9, create),
            ("POST /machines, a new Idempotency-Key each", 10**9, lambda: create("fresh")),
            ("POST /machines, the same key again (replay)", 10**9, replay),
        ]
        log(f"{len(variants)} variants, {args.calls} timed rounds")
        times = _time_in_turns(app, variants, args.calls)
        print(f"\n{args.calls} calls each, ms per call\n")
        print("| call | mean | p50 | p95 |\n|---|---|---|---|")
        for label, values in times.items():
            print(f"| {label} | {statistics.mean(values):.2f} | {pct(values, 50):.2f} "
                  f"| {pct(values, 95):.2f} |")
    finally:
        if service is not None:
            service.stop()


if __name__ == "__main__":
    main()
