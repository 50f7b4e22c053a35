"""The notification centre: what concerns me, newest first; open one, mark read."""

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from app.core.extensions import db
from app.core.forms import ConfirmForm, save
from app.core.htmx import render_page

from . import bp, services
from .models import Notification


def _page_number():
    page = request.args.get("page", "1")
    return int(page) if page.isdigit() and int(page) > 0 else 1


@bp.get("/")
@login_required
def index():
    unread_only = request.args.get("show") == "unread"
    page = services.notifications_for(current_user, unread_only, _page_number())
    return render_page("notifications/index.html", "notifications/_list.html", page=page,
                       unread_only=unread_only,
                       unread=services.unread_count(current_user), form=ConfirmForm())


def _own(notification_id):
    notification = db.get_or_404(Notification, notification_id)
    if notification.user_id != current_user.id:
        abort(404)  # someone else's: not even its existence is told
    return notification


@bp.get("/<int:notification_id>")
@login_required
def open_one(notification_id):
    """Follow a notification to its object, marking it read on the way."""
    notification = _own(notification_id)
    save(lambda: services.mark_read(current_user, notification))
    return redirect(notification.url)


@bp.post("/<int:notification_id>/read")
@login_required
def mark_read(notification_id):
    notification = _own(notification_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    save(lambda: services.mark_read(current_user, notification))
    return redirect(request.referrer or url_for(".index"))


@bp.post("/read-all")
@login_required
def mark_all_read():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    count = save(lambda: services.mark_read(current_user)).value
    flash(f"Marked {count} notification{'s' if count != 1 else ''} read." if count
          else "Nothing was unread.", "success")
    return redirect(url_for(".index"))
