"""Printable QR labels: each machine's code opens the quick report form for it."""

from urllib.parse import urlsplit

import segno
from flask import current_app, url_for
from markupsafe import Markup
from sqlalchemy import select

from app.blueprints.machines.models import Machine
from app.core.extensions import db

LOOPBACK = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def base_url():
    """Where tablets reach Floorline: PUBLIC_BASE_URL, unless it is only this computer.

    A loopback PUBLIC_BASE_URL (the development default) would print codes no tablet can
    open, so then the address the manager is using right now is taken instead.
    """
    configured = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    if configured and not is_loopback(configured):
        return configured
    return url_for("logbook.index", _external=True).rsplit("/logbook/", 1)[0]


def is_loopback(url):
    return urlsplit(url).hostname in LOOPBACK


def report_url(machine, base=None):
    path = url_for("logbook.report", machine_code=machine.code)
    return (base or base_url()) + path


def qr_svg(url, title=""):
    """An inline SVG QR code (error correction M, survives a smudge), sized by CSS."""
    code = segno.make(url, error="m", boost_error=False)
    return Markup(code.svg_inline(scale=1, border=2, omitsize=True, title=title or None,
                                  svgclass="qr", lineclass="qr-line",
                                  light="#fff"))


def label_machines(line_id=None, department_id=None, machine_ids=()):
    stmt = select(Machine).order_by(Machine.code)
    if line_id:
        stmt = stmt.where(Machine.line_id == line_id)
    if department_id:
        stmt = stmt.where(Machine.department_id == department_id)
    if machine_ids:
        stmt = stmt.where(Machine.id.in_(machine_ids))
    return db.session.scalars(stmt).all()


def labels_for(machines):
    base = base_url()
    return [{"machine": m, "url": report_url(m, base),
             "svg": qr_svg(report_url(m, base), title=f"Report an issue on {m.code}")}
            for m in machines]
