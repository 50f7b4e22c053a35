"""/health, /health/ready and /health/detailed on the real PostgreSQL and Redis.

Each detailed check is seen passing and failing. The RQ worker and `rq cron` records are
made by RQ's own Worker and CronScheduler classes, the same calls the processes make when
they start, beat and stop.
"""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import pytest
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.cron_scheduler_registry import get_registry_key
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.utils import utcformat

from app.blueprints.ops import checks
from app.core.extensions import db, redis_client

TOKEN = "monitoring-token-for-tests-0123456789"


@pytest.fixture
def rq_state(app):
    """An empty test queue with no workers or schedulers on it, before and after."""
    def clear():
        connection = redis_client()
        queue = Queue(app.config["RQ_QUEUE"], connection=connection)
        queue.empty()
        for job_id in FailedJobRegistry(queue=queue).get_job_ids():
            FailedJobRegistry(queue=queue).remove(job_id, delete_job=True)
        for worker in Worker.all(queue=queue):
            worker.register_death()
        for scheduler in checks._our_schedulers(connection):
            scheduler.register_death()
            connection.delete(scheduler.key)
    clear()
    yield Queue(app.config["RQ_QUEUE"], connection=redis_client())
    clear()


@pytest.fixture
def token(app):
    app.config["HEALTH_TOKEN"] = TOKEN
    yield {"Authorization": f"Bearer {TOKEN}"}
    app.config["HEALTH_TOKEN"] = ""


def start_worker(queue, name="health-test-worker"):
    worker = Worker([queue], connection=queue.connection, name=name)
    worker.register_birth()
    return worker


def start_scheduler(queue):
    from app.jobs.polling import poll_machines

    scheduler = CronScheduler(queue.connection)
    scheduler.register(poll_machines, queue_name=queue.name, interval=20)
    scheduler.register_birth()
    return scheduler


def record_poll(seconds_ago):
    from app.blueprints.telemetry.models import PollCycle

    db.session.add(PollCycle(started_at=datetime.now(UTC) - timedelta(seconds=seconds_ago),
                             duration_ms=800, machines=3))
    db.session.commit()


def record_rollup(seconds_ago):
    from app.blueprints.telemetry.models import RollupWatermark
    from app.blueprints.telemetry.rollups import WATERMARK

    mark = db.session.get(RollupWatermark, WATERMARK) or RollupWatermark(name=WATERMARK)
    mark.received_to = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    db.session.add(mark)
    db.session.commit()


def by_name(response):
    assert response.is_json, response.get_data(as_text=True)[:300]
    return {c["name"]: c for c in response.get_json()["checks"]}


def a_healthy_plant(queue):
    start_worker(queue)
    start_scheduler(queue)
    record_poll(5)
    record_rollup(40)


# --- /health and /health/ready -----------------------------------------------------------

def test_health_answers_without_touching_the_database(client, count_queries):
    with count_queries() as statements:
        response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert statements == []


def test_ready_checks_database_and_redis(client):
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {
        "database": {"status": "ok"}, "redis": {"status": "ok"}}}


def test_ready_is_503_naming_redis_when_redis_is_down(app, client):
    good = app.config["REDIS_URL"]
    app.extensions.pop("floorline_redis", None)
    app.config["REDIS_URL"] = "redis://127.0.0.1:9/0"  # nothing listens on port 9
    try:
        response = client.get("/health/ready")
    finally:
        app.config["REDIS_URL"] = good
        app.extensions.pop("floorline_redis", None)
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "fail"
    assert body["checks"]["database"] == {"status": "ok"}
    assert body["checks"]["redis"]["status"] == "fail"
    assert body["checks"]["redis"]["error"] == "ConnectionError"


def test_detailed_with_redis_down_fails_its_checks_and_still_answers(app, client, token):
    good = app.config["REDIS_URL"]
    app.extensions.pop("floorline_redis", None)
    app.config["REDIS_URL"] = "redis://127.0.0.1:9/0"
    try:
        response = client.get("/health/detailed", headers=token)
    finally:
        app.config["REDIS_URL"] = good
        app.extensions.pop("floorline_redis", None)
    assert response.status_code == 200
    found = by_name(response)
    for name in ("redis", "workers", "queue", "failed_jobs", "scheduler"):
        assert found[name]["status"] == "fail", name
    assert found["database"]["status"] == "ok"
    assert response.get_json()["status"] == "fail"


# --- who may read the details ---------------------------------------------------------------

def test_detailed_refuses_anonymous_callers(client):
    response = client.get("/health/detailed")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_detailed_refuses_a_wrong_token_and_any_token_when_none_is_configured(client, app):
    assert client.get("/health/detailed", headers={
        "Authorization": "Bearer anything"}).status_code == 401
    app.config["HEALTH_TOKEN"] = TOKEN
    try:
        response = client.get("/health/detailed", headers={"Authorization": "Bearer wrong"})
    finally:
        app.config["HEALTH_TOKEN"] = ""
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "bad_token"


def test_detailed_accepts_the_monitoring_token(client, token, rq_state):
    response = client.get("/health/detailed", headers=token)
    assert response.status_code == 200
    assert set(by_name(response)) == {
        "database", "redis", "migrations", "workers", "queue", "failed_jobs", "scheduler",
        "poll", "rollups", "sockets", "uploads_disk", "instance_disk", "version"}


@pytest.mark.parametrize("role", ["production_manager", "engineer", "operator", "viewer"])
def test_detailed_and_the_page_refuse_other_roles(logged_in, role):
    browser, _user = logged_in(role)
    assert browser.get("/health/detailed").status_code == 403
    assert browser.get("/admin/health").status_code == 403


def test_admin_reads_json_and_page_with_the_same_checks(logged_in, rq_state):
    a_healthy_plant(rq_state)
    browser, _user = logged_in("admin")
    data = browser.get("/health/detailed")
    assert data.status_code == 200
    page = browser.get("/admin/health")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for check in data.get_json()["checks"]:
        assert f'id="check-{check["name"]}"' in html
        assert check["threshold"].replace("≥", "&ge;") in html or check["threshold"] in html
    assert 'href="/admin/health"' in browser.get("/").get_data(as_text=True)  # nav entry


def test_nav_has_no_health_entry_for_managers(logged_in):
    browser, _user = logged_in("production_manager")
    assert 'href="/admin/health"' not in browser.get("/").get_data(as_text=True)


# --- each check passing and failing ----------------------------------------------------------

def test_a_healthy_plant_is_ok_overall(client, token, rq_state):
    a_healthy_plant(rq_state)
    response = client.get("/health/detailed", headers=token)
    found = by_name(response)
    assert {n: c["status"] for n, c in found.items() if c["status"] != "ok"} == {}
    assert response.get_json()["status"] == "ok"
    assert found["workers"]["value"] == "1 of 1 alive"
    assert "health-test-worker: last heartbeat" in found["workers"]["detail"]
    assert found["migrations"]["threshold"] == "current = head"


def test_database_and_redis_latency_are_graded_against_their_thresholds(app):
    assert checks.check_database().status == "ok"
    assert checks.check_redis().status == "ok"
    app.config.update(HEALTH_DB_LATENCY_WARN_MS=0, HEALTH_REDIS_LATENCY_FAIL_MS=0)
    try:
        assert checks.check_database().status == "warn"
        assert checks.check_redis().status == "fail"
    finally:
        app.config.update(HEALTH_DB_LATENCY_WARN_MS=100, HEALTH_REDIS_LATENCY_FAIL_MS=500)


def test_no_worker_fails(client, token, rq_state):
    found = by_name(client.get("/health/detailed", headers=token))
    assert found["workers"]["status"] == "fail"
    assert found["workers"]["value"] == "none"


def test_a_stopped_worker_fails(client, token, rq_state):
    worker = start_worker(rq_state)
    assert by_name(client.get("/health/detailed", headers=token))["workers"]["status"] == "ok"
    worker.register_death()  # what `rq worker` does when it stops
    assert by_name(client.get("/health/detailed", headers=token))["workers"]["status"] == "fail"


def test_a_worker_whose_heartbeat_stopped_fails_and_one_of_two_warns(client, token, rq_state):
    stuck = start_worker(rq_state, "stuck-worker")
    old = datetime.now(UTC) - timedelta(seconds=700)
    rq_state.connection.hset(stuck.key, "last_heartbeat", utcformat(old))
    found = by_name(client.get("/health/detailed", headers=token))["workers"]
    assert found["status"] == "fail"
    assert found["value"] == "0 of 1 alive"
    assert "stuck-worker: last heartbeat 12 min ago" in found["detail"]
    start_worker(rq_state, "good-worker")
    found = by_name(client.get("/health/detailed", headers=token))["workers"]
    assert (found["status"], found["value"]) == ("warn", "1 of 2 alive")


def test_a_queue_that_grows_warns_then_fails(app, client, token, rq_state):
    app.config.update(HEALTH_QUEUE_WARN=3, HEALTH_QUEUE_FAIL=6)
    try:
        def queue_check():
            return by_name(client.get("/health/detailed", headers=token))["queue"]
        assert queue_check()["status"] == "ok"
        for n in range(3):
            rq_state.enqueue("app.jobs.polling.poll_machines", job_id=f"health-q-{n}")
        assert (queue_check()["status"], queue_check()["value"]) == ("warn", "3")
        for n in range(3, 6):
            rq_state.enqueue("app.jobs.polling.poll_machines", job_id=f"health-q-{n}")
        found = queue_check()
        assert (found["status"], found["value"], found["threshold"]) == (
            "fail", "6", "warn ≥ 3, fail ≥ 6")
    finally:
        app.config.update(HEALTH_QUEUE_WARN=100, HEALTH_QUEUE_FAIL=1000)


def test_failed_jobs_are_counted_from_rqs_registry(app, client, token, rq_state):
    app.config.update(HEALTH_FAILED_JOBS_WARN=1, HEALTH_FAILED_JOBS_FAIL=2)
    try:
        registry = FailedJobRegistry(queue=rq_state)
        assert by_name(client.get("/health/detailed", headers=token))["failed_jobs"][
            "status"] == "ok"
        for n in range(2):
            job = Job.create("app.jobs.polling.poll_machines", id=f"health-f-{n}",
                             connection=rq_state.connection, origin=rq_state.name)
            job.save()
            registry.add(job, exc_string="Traceback: boom")
            expected = ("warn", "1") if n == 0 else ("fail", "2")
            found = by_name(client.get("/health/detailed", headers=token))["failed_jobs"]
            assert (found["status"], found["value"]) == expected
        assert "health-f-" in found["detail"]
    finally:
        app.config.update(HEALTH_FAILED_JOBS_WARN=10, HEALTH_FAILED_JOBS_FAIL=100)


def test_the_scheduler_alive_stale_and_stopped(client, token, rq_state):
    def scheduler_check():
        return by_name(client.get("/health/detailed", headers=token))["scheduler"]
    assert scheduler_check()["value"] == "none"
    assert scheduler_check()["status"] == "fail"
    scheduler = start_scheduler(rq_state)
    assert scheduler_check()["status"] == "ok"
    # Its heartbeat 90 s old: a loop stuck longer than any interval.
    rq_state.connection.zadd(get_registry_key(), {scheduler.name: datetime.now(UTC)
                                                  .timestamp() - 90})
    assert scheduler_check()["status"] == "warn"
    scheduler.heartbeat()
    assert scheduler_check()["status"] == "ok"
    scheduler.register_death()  # what `rq cron` does when it stops
    assert scheduler_check()["status"] == "fail"


def test_a_scheduler_for_another_queue_does_not_count(client, token, rq_state):
    other = Queue("someone-elses-queue", connection=rq_state.connection)
    scheduler = start_scheduler(other)
    try:
        assert by_name(client.get("/health/detailed", headers=token))["scheduler"][
            "status"] == "fail"
    finally:
        scheduler.register_death()
        rq_state.connection.delete(scheduler.key)


def test_a_poll_that_stopped_warns_then_fails(client, token, rq_state):
    def poll_check():
        return by_name(client.get("/health/detailed", headers=token))["poll"]
    assert (poll_check()["status"], poll_check()["value"]) == ("warn", "never")
    record_poll(10)
    assert poll_check()["status"] == "ok"
    record_poll(90)  # older rows do not hide newer ones: the newest counts
    assert poll_check()["status"] == "ok"
    db.session.execute(db.text("DELETE FROM poll_cycles"))
    record_poll(90)  # 4.5 intervals of 20 s
    assert (poll_check()["status"], poll_check()["value"]) == ("warn", "90 s ago")
    record_poll(60 * 10)
    db.session.execute(db.text("DELETE FROM poll_cycles WHERE started_at > now() - "
                               "interval '5 minutes'"))
    db.session.commit()
    found = poll_check()
    assert (found["status"], found["value"]) == ("fail", "10 min ago")


def test_rollup_lag(client, token, rq_state):
    def rollup_check():
        return by_name(client.get("/health/detailed", headers=token))["rollups"]
    assert rollup_check()["status"] == "warn"
    record_rollup(60)
    assert rollup_check()["status"] == "ok"
    record_rollup(600)
    assert rollup_check()["status"] == "warn"
    record_rollup(3600)
    assert (rollup_check()["status"], rollup_check()["value"]) == ("fail", "3600 s")


def test_open_sockets_are_counted_for_this_process(app, client, token, rq_state):
    from app.realtime.hub import hub_for

    hub = hub_for(app)
    before = len(hub.subscriptions)
    app.config["HEALTH_SOCKETS_WARN"] = before + 1
    try:
        found = by_name(client.get("/health/detailed", headers=token))["sockets"]
        assert (found["status"], found["value"]) == ("ok", str(before))
        assert "each gunicorn worker counts its own" in found["detail"]
        sub = hub.subscribe(user_id=1, session_version=1)
        try:
            found = by_name(client.get("/health/detailed", headers=token))["sockets"]
        finally:
            hub.unsubscribe(sub)
        assert (found["status"], found["value"]) == ("warn", str(before + 1))
    finally:
        app.config["HEALTH_SOCKETS_WARN"] = 1500


def test_disk_checks_fail_on_a_missing_folder_and_grade_free_space(app, tmp_path):
    good = app.config["UPLOAD_DIR"]
    app.config["UPLOAD_DIR"] = str(tmp_path / "gone")
    try:
        found = checks.check_uploads_disk()
        assert (found.status, found.value) == ("fail", "missing")
    finally:
        app.config["UPLOAD_DIR"] = good
    app.config["UPLOAD_DIR"] = str(tmp_path)
    assert checks.check_uploads_disk().status == "ok"
    # Demand more free space than any disk has: the same folder fails.
    app.config.update(HEALTH_DISK_WARN_PERCENT=100, HEALTH_DISK_FAIL_PERCENT=100)
    try:
        assert checks.check_uploads_disk().status == "fail"
        assert checks.check_instance_disk().status == "fail"
    finally:
        app.config.update(UPLOAD_DIR=good, HEALTH_DISK_WARN_PERCENT=15,
                          HEALTH_DISK_FAIL_PERCENT=5)


def test_version_from_the_environment_or_git(app):
    app.extensions.pop("floorline_version", None)
    app.config["FLOORLINE_VERSION"] = "v1.4.2-3-gabc1234"
    try:
        assert checks.check_version().value == "v1.4.2-3-gabc1234"
    finally:
        app.config["FLOORLINE_VERSION"] = ""
        app.extensions.pop("floorline_version", None)
    import subprocess
    described = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"],
                               cwd=app.root_path, capture_output=True, text=True).stdout
    assert checks.check_version().value == described.strip()
    app.extensions.pop("floorline_version", None)


@pytest.mark.live  # builds a second database, outside the test's transaction
def test_migrations_behind_fail_in_a_real_scratch_database(app, token, rq_state):
    """A database migrated to the revision before head, by the migrations themselves."""
    from alembic.script import ScriptDirectory
    from flask_migrate import upgrade

    from app import create_app
    from config import TestConfig
    from scripts.services import create_database

    parts = urlsplit(app.config["SQLALCHEMY_DATABASE_URI"].replace("+psycopg2", ""))
    server = urlunsplit(parts._replace(path="/postgres"))
    scratch = create_database(server, parts.path.lstrip("/") + "_health")

    class ScratchConfig(TestConfig):
        SQLALCHEMY_DATABASE_URI = scratch.replace("postgresql://", "postgresql+psycopg2://")
        HEALTH_TOKEN = TOKEN

    other = create_app(ScratchConfig)
    head = ScriptDirectory(app.extensions["migrate"].directory).get_current_head()
    before = ScriptDirectory(app.extensions["migrate"].directory).get_revision(head)\
        .down_revision
    try:
        with other.app_context():
            upgrade(revision=before)
            found = by_name(other.test_client().get("/health/detailed", headers=token))
            assert found["migrations"]["status"] == "fail"
            assert found["migrations"]["value"] == before
            assert f"head is {head}" in found["migrations"]["detail"]
            upgrade()
            found = by_name(other.test_client().get("/health/detailed", headers=token))
            assert (found["migrations"]["status"], found["migrations"]["value"]) == (
                "ok", head)
    finally:
        with other.app_context():
            from app.core.extensions import db as scratch_db
            scratch_db.session.remove()
            scratch_db.engine.dispose()
        hub = other.extensions.get("floorline_hub")
        if hub is not None:
            hub.stop()
        create_database(server, parts.path.lstrip("/") + "_health")  # left empty
