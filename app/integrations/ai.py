"""A small adapter over the `openai` package: one chat completion, plain errors.

Config: OPENAI_API_KEY (empty: AI is off), OPENAI_BASE_URL (any OpenAI-compatible server;
empty: api.openai.com), OPENAI_MODEL, OPENAI_TIMEOUT (seconds). The client never retries by
itself: the RQ job that calls it is retried with backoff instead, so a slow service never
holds a worker for minutes.
"""

import openai
from flask import current_app

NOT_CONFIGURED = "AI is not configured (set OPENAI_API_KEY)"


class AiUnavailable(Exception):
    """No key: AI is switched off. Not an error worth retrying."""


class AiError(Exception):
    """The service failed, timed out or gave an answer we cannot use; worth retrying."""


def ai_configured():
    return bool(current_app.config.get("OPENAI_API_KEY"))


def _timeout():
    return float(current_app.config.get("OPENAI_TIMEOUT") or 20)


def _client():
    config = current_app.config
    return openai.OpenAI(api_key=config["OPENAI_API_KEY"],
                         base_url=config.get("OPENAI_BASE_URL") or None,
                         timeout=_timeout(), max_retries=0)


def _short(text, limit=200):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _status_message(exc):
    detail = ""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error")
        detail = error.get("message", "") if isinstance(error, dict) else body.get("message", "")
    detail = _short(detail)
    return f"The AI service answered HTTP {exc.status_code}" + (f": {detail}" if detail else "")


def complete(system, user, json_answer=True):
    """The model's reply to one system + user message, as text.

    Raises AiUnavailable without a key, AiError for HTTP errors, timeouts, unreachable
    servers and empty answers.
    """
    if not ai_configured():
        raise AiUnavailable(NOT_CONFIGURED)
    options = {"response_format": {"type": "json_object"}} if json_answer else {}
    client = _client()
    try:
        response = client.chat.completions.create(
            model=current_app.config["OPENAI_MODEL"], temperature=0.2,
            messages=[{"role": "system", "content": system},
                      {"role": "user", "content": user}], **options)
    except openai.APITimeoutError as exc:
        raise AiError(f"The AI service did not answer within {_timeout():g} s") from exc
    except openai.APIStatusError as exc:
        raise AiError(_status_message(exc)) from exc
    except openai.APIConnectionError as exc:
        raise AiError("Could not reach the AI service"
                      f" ({current_app.config.get('OPENAI_BASE_URL') or 'api.openai.com'})") \
            from exc
    except openai.OpenAIError as exc:
        raise AiError(f"The AI service failed: {_short(exc)}") from exc
    finally:
        client.close()
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError) as exc:
        raise AiError("The AI service sent an answer without a message") from exc
    if not isinstance(content, str) or not content.strip():
        raise AiError("The AI service sent an empty answer")
    return content
