"""RQ jobs. Each job takes plain ids, opens its own app context and commits itself."""

from functools import wraps

_app = None


def worker_app():
    """The app for this worker process, built once (jobs run many times per process)."""
    global _app
    if _app is None:
        from app import create_app
        _app = create_app()
    return _app


def job(fn):
    """Run `fn` inside an app context; the session is removed afterwards."""
    @wraps(fn)
    def wrapper(*args, **kwargs):
        from flask import has_app_context
        if has_app_context():
            return fn(*args, **kwargs)
        with worker_app().app_context():
            return fn(*args, **kwargs)
    return wrapper
