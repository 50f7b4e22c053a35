"""The RQ job that writes an issue's AI texts; the rules are the logbook's
(app/blueprints/logbook/ai_texts.py)."""

from rq import get_current_job

from app.blueprints.logbook import ai_texts
from app.core.extensions import db
from app.integrations import ai

from . import job


@job
def write_issue_texts(issue_id):
    question = ai_texts.question_for(issue_id)
    # Nothing is held open in the database while the AI service thinks.
    db.session.commit()
    if not isinstance(question, ai_texts.Question):
        return question
    try:
        answer = ai_texts.ask(question)
    except ai.AiUnavailable as exc:
        ai_texts.skip(issue_id, str(exc))
        db.session.commit()
        return "skipped"
    except ai.AiError as exc:
        db.session.rollback()
        ai_texts.record_failure(issue_id, str(exc), last_attempt=_last_attempt())
        db.session.commit()
        raise
    status = ai_texts.write_answer(question, answer)
    db.session.commit()
    return status


def _last_attempt():
    """True unless RQ will run this job again (no RQ job at all counts as the last)."""
    current = get_current_job()
    return current is None or not current.should_retry
