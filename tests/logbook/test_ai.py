"""AI titles and summaries against a small OpenAI-compatible server started by the test."""

import contextlib
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from flask import render_template
from flask_login import login_user
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import InvalidJobOperation, NoSuchJobError

from app.blueprints.logbook import ai_texts
from app.blueprints.logbook.metrics_views import ai_context
from app.blueprints.logbook.models import Issue, Remedy
from app.core.extensions import db, redis_client
from app.integrations import ai
from app.jobs import ai as ai_jobs
from tests.helpers import text_of

AI_KEYS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL", "OPENAI_TIMEOUT")


class FakeOpenAI:
    """Answers POST /v1/chat/completions as the mode says: "json" (self.content), "hang", "500"."""

    def __init__(self):
        self.mode = "json"
        self.content = "{}"
        self.requests = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append({"path": self.path, "body": body,
                                      "authorization": self.headers.get("Authorization")})
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "no such path"}})
                if fake.mode == "hang":
                    fake.release.wait(10)
                    return None
                if fake.mode == "500":
                    return self._send(500, {"error": {"message": "model overloaded",
                                                      "type": "server_error"}})
                return self._send(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": 1900000000,
                    "model": body.get("model"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": fake.content}}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})

            def _send(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def prompt(self, n=-1):
        return self.requests[n]["body"]["messages"][1]["content"]

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_ai(app):
    fake = FakeOpenAI()
    saved = {key: app.config[key] for key in AI_KEYS}
    app.config.update(OPENAI_API_KEY="test-key", OPENAI_BASE_URL=fake.url,
                      OPENAI_MODEL="gpt-4o-mini", OPENAI_TIMEOUT=2)
    yield fake
    app.config.update(saved)
    fake.stop()


@pytest.fixture
def issue(make_machine, make_user, make_issue):
    reporter = make_user("maintenance")
    machine = make_machine(code="LATHE-7", name="Okuma lathe")
    issue = make_issue(machine, reporter, alarm_code="SV0401", title="spindle alarm again!!",
                       priority="high", runnable=False,
                       description="spindel stoped with alarm sv0401 , ovrload. restarted twice")
    db.session.add_all([
        Remedy(issue=issue, description="cleand chips from spindle fan, reset alarm",
               performed_by=reporter, minutes_spent=20),
        Remedy(issue=issue, description="checked belt", performed_by=reporter,
               ai_text="Checked the drive belt.")])
    db.session.commit()
    return issue


def reload(issue_id):
    db.session.expire_all()
    return db.session.get(Issue, issue_id)


def answer(issue, title="SV0401: Spindle overload stops the lathe", summary=None):
    missing = [r for r in issue.remedies if not r.ai_text]
    return json.dumps({
        "title": title,
        "summary": summary or "The spindle stopped with alarm SV0401 (overload). It was "
                              "restarted twice.",
        "remedies": [{"id": r.id, "text": "Cleaned chips out of the spindle fan and reset "
                                           "the alarm."} for r in missing]})


def test_success_stores_the_texts_beside_the_originals(fake_ai, issue):
    fake_ai.content = answer(issue)
    first, second = issue.remedies
    assert ai_jobs.write_issue_texts(issue.id) == "done"

    issue = reload(issue.id)
    assert issue.ai_status == "done" and issue.ai_error is None
    assert issue.ai_title == "SV0401: Spindle overload stops the lathe"
    assert issue.ai_summary.startswith("The spindle stopped with alarm SV0401")
    assert issue.remedies[0].ai_text == "Cleaned chips out of the spindle fan and reset the alarm."
    assert issue.remedies[1].ai_text == "Checked the drive belt."        # had one already
    # The originals are untouched.
    assert issue.title == "spindle alarm again!!"
    assert issue.description.startswith("spindel stoped")
    assert issue.remedies[0].description == "cleand chips from spindle fan, reset alarm"

    sent = fake_ai.requests[0]
    assert sent["authorization"] == "Bearer test-key"
    assert sent["body"]["model"] == "gpt-4o-mini"
    assert sent["body"]["response_format"] == {"type": "json_object"}
    prompt = fake_ai.prompt()
    assert "SV0401" in prompt and "spindel stoped" in prompt
    assert f"Remedy {first.id} as typed" in prompt and f"Remedy {second.id}" not in prompt


def test_running_twice_is_harmless(fake_ai, issue):
    first_remedy = issue.remedies[0].id
    fake_ai.content = answer(issue)
    ai_jobs.write_issue_texts(issue.id)
    fake_ai.content = answer(reload(issue.id))         # no remedy is missing a text now
    assert ai_jobs.write_issue_texts(issue.id) == "done"
    issue = reload(issue.id)
    assert issue.ai_status == "done"
    assert f"Remedy {first_remedy} as typed" not in fake_ai.prompt()
    assert issue.remedies[0].ai_text.startswith("Cleaned chips")


def test_the_alarm_code_is_put_in_a_title_without_it(fake_ai, issue):
    fake_ai.content = answer(issue, title="Spindle overload " + "x" * 90)
    ai_jobs.write_issue_texts(issue.id)
    title = reload(issue.id).ai_title
    assert title.startswith("SV0401: Spindle overload")
    assert len(title) <= 80


def test_no_key_skips_and_says_why(fake_ai, issue, app):
    app.config["OPENAI_API_KEY"] = ""
    assert ai_jobs.write_issue_texts(issue.id) == "skipped"
    issue = reload(issue.id)
    assert issue.ai_status == "skipped"
    assert issue.ai_error == "AI is not configured (set OPENAI_API_KEY)"
    assert issue.ai_title is None
    assert fake_ai.requests == []


@pytest.mark.parametrize("content,reason", [
    ("Sorry, I cannot help with that.", "The AI answer was not JSON"),
    ('["a list"]', "The AI answer was not a JSON object"),
    ('{"title": "SV0401 spindle", "remedies": []}', "The AI answer has no summary"),
    ('{"title": "SV0401 spindle", "summary": "ok", "remedies": []}', "has no text for remedy"),
])
def test_malformed_answer_fails_with_a_reason(fake_ai, issue, content, reason):
    fake_ai.content = content
    with pytest.raises(ai.AiError):
        ai_jobs.write_issue_texts(issue.id)      # outside RQ this is the last attempt
    issue = reload(issue.id)
    assert issue.ai_status == "failed"
    assert reason in issue.ai_error
    assert issue.ai_title is None and issue.remedies[0].ai_text is None


def test_answer_in_a_code_fence_is_accepted(fake_ai, issue):
    fake_ai.content = "```json\n" + answer(issue) + "\n```"
    assert ai_jobs.write_issue_texts(issue.id) == "done"


def test_http_error_fails_with_the_status(fake_ai, issue):
    fake_ai.mode = "500"
    with pytest.raises(ai.AiError):
        ai_jobs.write_issue_texts(issue.id)
    issue = reload(issue.id)
    assert issue.ai_status == "failed"
    assert issue.ai_error == "The AI service answered HTTP 500: model overloaded"


def test_complete_times_out(fake_ai, app):
    fake_ai.mode = "hang"
    app.config["OPENAI_TIMEOUT"] = 0.3
    with pytest.raises(ai.AiError, match=r"did not answer within 0.3 s"):
        ai.complete("system", "user")
    assert len(fake_ai.requests) == 1              # the client itself never retries


def test_no_key_raises_unavailable(app):
    with pytest.raises(ai.AiUnavailable, match="set OPENAI_API_KEY"):
        ai.complete("system", "user")


@pytest.fixture
def rq_queue():
    queue = Queue(f"floorline-test-ai-{uuid.uuid4().hex[:8]}", connection=redis_client())
    yield queue
    for job_id in (queue.job_ids + queue.failed_job_registry.get_job_ids()
                   + queue.scheduled_job_registry.get_job_ids()
                   + queue.finished_job_registry.get_job_ids()):
        job = queue.fetch_job(job_id)
        if job is not None:
            job.delete()
    queue.delete(delete_jobs=True)


def test_timeouts_are_retried_by_rq_then_reported(fake_ai, issue, app, rq_queue):
    fake_ai.mode = "hang"
    app.config["OPENAI_TIMEOUT"] = 0.3
    job = rq_queue.enqueue(ai_texts.JOB, issue.id, retry=Retry(max=2, interval=0))
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)

    assert len(fake_ai.requests) == 3               # the first try and two retries
    assert job.get_status(refresh=True) == "failed"
    issue = reload(issue.id)
    assert issue.ai_status == "failed"
    assert issue.ai_error == "The AI service did not answer within 0.3 s"


def test_a_failed_attempt_with_retries_left_stays_pending(fake_ai, issue, app, rq_queue):
    fake_ai.mode = "hang"
    app.config["OPENAI_TIMEOUT"] = 0.3
    job = rq_queue.enqueue(ai_texts.JOB, issue.id, retry=Retry(max=1, interval=[60]))
    SimpleWorker([rq_queue], connection=rq_queue.connection).work(burst=True)

    assert len(fake_ai.requests) == 1
    assert job.get_status(refresh=True) == "scheduled"      # RQ tries again in 60 s
    issue = reload(issue.id)
    assert issue.ai_status == "pending"
    assert "did not answer" in issue.ai_error and "Trying again shortly" in issue.ai_error


def test_request_enqueues_with_backoff(issue, queued):
    ai_texts.request_issue_texts(issue)
    db.session.commit()
    assert reload(issue.id).ai_status == "pending"
    jobs = queued()
    assert [j.args for j in jobs] == [(issue.id,)]
    assert jobs[0].retries_left == 3
    assert jobs[0].retry_intervals == [10, 30, 60]


# --- the panel on the issue page ------------------------------------------------------------

def panel(app, issue, user):
    with app.test_request_context(f"/logbook/issues/{issue.id}"):
        login_user(user)
        return render_template("logbook/_ai.html", **ai_context(reload(issue.id), user))


def test_panel_states(app, issue, make_user):
    worker, viewer = make_user("maintenance"), make_user("viewer")
    issue.ai_status = "pending"
    db.session.commit()
    assert "Writing a summary…" in panel(app, issue, worker)

    issue = reload(issue.id)
    issue.ai_status, issue.ai_error = "failed", "The AI service answered HTTP 500"
    db.session.commit()
    html = panel(app, issue, worker)
    assert "The AI service answered HTTP 500" in html
    assert f'action="/logbook/issues/{issue.id}/ai"' in html and "Try again" in html
    assert "Try again" not in panel(app, issue, viewer)

    issue = reload(issue.id)
    issue.ai_status, issue.ai_error = "skipped", ai.NOT_CONFIGURED
    db.session.commit()
    html = panel(app, issue, worker)
    assert "AI is not configured (set OPENAI_API_KEY)" in html and "Try again" not in html

    issue = reload(issue.id)
    issue.ai_status, issue.ai_error = "done", None
    issue.ai_title, issue.ai_summary = "SV0401: Spindle overload", "The spindle stopped."
    db.session.commit()
    html = panel(app, issue, viewer)
    assert "SV0401: Spindle overload" in html and "spindle alarm again!!" in html
    assert "Checked the drive belt." in html


@pytest.fixture
def queued(app):
    """`queued()` → the AI jobs queued since the test began; they are removed afterwards."""
    queue = Queue(app.config["RQ_QUEUE"], connection=redis_client())
    before = set(queue.job_ids)
    seen = []

    def new_jobs():
        jobs = [j for j in queue.jobs if j.id not in before and j.func_name == ai_texts.JOB]
        seen.extend(jobs)
        return jobs
    yield new_jobs
    for job in {j.id: j for j in new_jobs() + seen}.values():
        with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
            job.delete()


def test_try_again_route(logged_in, issue, queued):
    issue.ai_status, issue.ai_error = "failed", "boom"
    db.session.commit()
    browser, _ = logged_in("maintenance")
    response = browser.post(f"/logbook/issues/{issue.id}/ai",
                            {"next": f"/logbook/issues/{issue.id}"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/logbook/issues/{issue.id}")
    assert reload(issue.id).ai_status == "pending"
    assert [j.args for j in queued()] == [(issue.id,)]

    response = browser.post(f"/logbook/issues/{issue.id}/ai", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Writing a summary…" in text_of(response)
    # An outside address is never followed.
    response = browser.post(f"/logbook/issues/{issue.id}/ai", {"next": "https://evil.test/x"})
    assert "evil" not in response.headers["Location"]


def test_operators_may_not_retry(logged_in, issue):
    browser, _ = logged_in("operator")
    assert browser.post(f"/logbook/issues/{issue.id}/ai").status_code == 403
