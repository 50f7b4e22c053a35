"""AI texts for logbook issues: a short title, a cleaned summary, cleaned remedy texts.

Written beside the originals (ai_title, ai_summary, remedy.ai_text), which are never
changed. The job (app/jobs/ai.py) runs in the worker, so an issue is never blocked or
delayed by AI; RQ retries it with backoff, and only the last failed attempt marks the issue
`failed`. Running it twice is harmless: the title and summary are written again, remedy
texts only where one is missing. Functions here flush; the job commits.
"""

import json
import logging
import re
from dataclasses import dataclass

from rq import Retry
from sqlalchemy import select

from app.core.extensions import db
from app.core.models import utcnow
from app.integrations import ai
from app.jobs.queue import enqueue_after_commit
from app.realtime import publish_after_commit

from .models import Issue, Remedy

log = logging.getLogger(__name__)

JOB = "app.jobs.ai.write_issue_texts"
RETRY_INTERVALS = [10, 30, 60]
TITLE_MAX = 80
EVENT = "issue.ai_updated"

SYSTEM = (
    "You help the maintenance team of a CNC machining shop keep a clean logbook of machine "
    "problems. You rewrite what operators and technicians typed in a hurry into clear, "
    "short, factual English. Keep every fact, number, part name and alarm code; add no "
    "facts, guesses or advice. Answer with one JSON object and nothing else.")


def request_issue_texts(issue):
    """Mark the issue's AI texts as pending and queue the job once the transaction commits."""
    issue.ai_status = "pending"
    issue.ai_error = None
    issue.ai_updated_at = utcnow()
    publish_after_commit(EVENT, id=issue.id)
    enqueue_after_commit(JOB, issue.id, retry=Retry(max=len(RETRY_INTERVALS),
                                                   interval=RETRY_INTERVALS))


# --- the job's steps ------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    """What the AI service is asked about one issue, read before the job lets go of the
    database."""

    issue_id: int
    prompt: str
    remedy_ids: list
    alarm_code: str


def question_for(issue_id):
    """The Question for the issue, or the status the job ends with ("issue gone",
    "skipped" when AI is off: the issue is marked so)."""
    issue = db.session.get(Issue, issue_id)
    if issue is None:
        return "issue gone"
    if not ai.ai_configured():
        finish(issue, "skipped", ai.NOT_CONFIGURED)
        return "skipped"
    remedies = [r for r in issue.remedies if not (r.ai_text or "").strip()]
    return Question(issue.id, _prompt(issue, remedies), [r.id for r in remedies],
                    (issue.alarm_code or "").strip())


def ask(question):
    """The AI service's answer, checked; raises ai.AiUnavailable or ai.AiError."""
    return parse_answer(ai.complete(SYSTEM, question.prompt), question.remedy_ids,
                        question.alarm_code)


def write_answer(question, answer):
    """Write the answer beside the originals; the status the job ends with."""
    issue = db.session.get(Issue, question.issue_id)
    if issue is None:
        return "issue gone"
    issue.ai_title = answer["title"]
    issue.ai_summary = answer["summary"]
    for remedy in db.session.scalars(select(Remedy).where(Remedy.id.in_(question.remedy_ids))):
        if not (remedy.ai_text or "").strip():
            remedy.ai_text = answer["remedies"][remedy.id]
    finish(issue, "done", None)
    return "done"


def skip(issue_id, reason):
    finish(db.session.get(Issue, issue_id), "skipped", reason)


def record_failure(issue_id, reason, last_attempt):
    """A failed attempt: `failed` on the last one, otherwise still pending with the reason."""
    issue = db.session.get(Issue, issue_id)
    if issue is None:
        return
    if last_attempt:
        log.warning("AI texts for issue %s failed: %s", issue_id, reason)
        finish(issue, "failed", reason)
    else:
        log.info("AI texts for issue %s: attempt failed (%s); RQ retries", issue_id, reason)
        finish(issue, "pending", f"{reason}. Trying again shortly.")


def finish(issue, status, error):
    if issue is None:
        return
    issue.ai_status = status
    issue.ai_error = error
    issue.ai_updated_at = utcnow()
    publish_after_commit(EVENT, id=issue.id)


# --- prompt and answer ---------------------------------------------------------------------

def _prompt(issue, remedies):
    machine = issue.machine
    lines = [
        f"Machine: {machine.code} ({machine.name})" if machine else "Machine: unknown",
        f"Category: {issue.category_label}",
        f"Alarm code: {issue.alarm_code}" if issue.alarm_code else "Alarm code: none",
        f"Title as typed: {issue.title}",
        "Description as typed:",
        issue.description,
        "",
    ]
    for remedy in remedies:
        lines += [f"Remedy {remedy.id} as typed:", remedy.description, ""]
    code_rule = (f' It must contain the alarm code "{issue.alarm_code}".'
                 if issue.alarm_code else "")
    ids = ", ".join(str(r.id) for r in remedies)
    lines += [
        "Write a JSON object with these keys:",
        f'"title": a short title for the issue, at most {TITLE_MAX} characters.{code_rule}',
        '"summary": the description cleaned up: full sentences, spelling fixed, at most '
        "about 80 words.",
        '"remedies": a list of {"id": <remedy number>, "text": <what was done, cleaned up>}'
        + (f" for remedies {ids}." if remedies else "; an empty list, there are none."),
    ]
    return "\n".join(lines)


FENCE_RE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def _text(value, what):
    if not isinstance(value, str) or not value.strip():
        raise ai.AiError(f"The AI answer has no {what}")
    return " ".join(value.split()) if what == "title" else value.strip()


def _shorten(title, limit=TITLE_MAX):
    if len(title) <= limit:
        return title
    cut = title[:limit - 1].rsplit(" ", 1)[0] if " " in title[:limit - 1] else title[:limit - 1]
    return cut.rstrip(" ,;:-") + "…"


def parse_answer(content, remedy_ids, alarm_code=""):
    """The model's JSON checked and tidied: {"title", "summary", "remedies": {id: text}}.

    Raises AiError with a plain reason when the answer cannot be used.
    """
    match = FENCE_RE.match(content)
    try:
        data = json.loads(match.group(1) if match else content)
    except ValueError as exc:
        raise ai.AiError("The AI answer was not JSON") from exc
    if not isinstance(data, dict):
        raise ai.AiError("The AI answer was not a JSON object")
    title = _text(data.get("title"), "title")
    if alarm_code and alarm_code.lower() not in _shorten(title).lower():
        title = f"{alarm_code}: {title}"
    summary = _text(data.get("summary"), "summary")
    texts = {}
    items = data.get("remedies") or []
    if not isinstance(items, list):
        raise ai.AiError("The AI answer's remedies are not a list")
    for item in items:
        if isinstance(item, dict) and str(item.get("id")).isdigit():
            texts[int(item["id"])] = item.get("text")
    remedies = {}
    for remedy_id in remedy_ids:
        remedies[remedy_id] = _text(texts.get(remedy_id), f"text for remedy {remedy_id}")
    return {"title": _shorten(title), "summary": summary, "remedies": remedies}
