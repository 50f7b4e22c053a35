"""The RQ job that redoes a line's stored OEE after its calendar changed."""

from datetime import datetime

from app.blueprints.machines.models import Line
from app.blueprints.production import oee
from app.core.extensions import db

from . import job


@job
def recompute_line(line_id, start, end):
    """`start` and `end` are ISO times (UTC); safe to run twice (buckets are replaced)."""
    line = db.session.get(Line, line_id)
    if line is None:
        return "line gone"
    oee.refresh_line(line, datetime.fromisoformat(start), datetime.fromisoformat(end))
    db.session.commit()
    return "done"
