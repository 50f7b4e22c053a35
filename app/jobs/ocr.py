"""The RQ job that reads the text on an attachment's photo (app/blueprints/logbook/photo_text.py)."""

from app.blueprints.logbook import photo_text
from app.core.extensions import db

from . import job


@job
def read_attachment(attachment_id):
    """Returns the status it ended with; safe to run twice."""
    try:
        status = photo_text.read_photo(attachment_id)
    except Exception:
        # Marked failed so the page does not wait for ever; RQ keeps the traceback.
        db.session.rollback()
        photo_text.read_failed(attachment_id)
        db.session.commit()
        raise
    db.session.commit()
    return status
