"""Tell people what concerns them; every domain notifies through `notify()`."""

from flask import current_app
from sqlalchemy import func, select, update

from app.blueprints.auth import roles
from app.blueprints.auth.models import User
from app.blueprints.machines.services import machine_operators_of
from app.core.badges import badge_counter, publish_badges
from app.core.extensions import db
from app.core.models import utcnow
from app.realtime import publish_after_commit

from .models import NOTIFICATION_KINDS, Notification

PAGE_SIZE = 30


def notify(users, kind, title, url, body="", exclude=None):
    """One notification for each of `users` (active ones, each once); returns them.

    `exclude` (a user) is left out: nobody needs telling about what they did themselves.
    The unread badge and the list update live after commit.
    """
    if kind not in dict(NOTIFICATION_KINDS):
        raise ValueError(f"unknown notification kind {kind!r}")
    people = {u.id: u for u in users if u is not None and u.active}
    if exclude is not None:
        people.pop(exclude.id, None)
    made = [Notification(user_id=uid, kind=kind, title=title[:200], body=body, url=url)
            for uid in sorted(people)]
    if made:
        db.session.add_all(made)
        db.session.flush()
        publish_after_commit("notification.created", ids=[n.id for n in made],
                             user_ids=sorted(people))
        publish_badges("notifications", user_ids=people)
    return made


def link(endpoint, **values):
    """A site-relative URL that works in jobs too (url_for needs a request or SERVER_NAME;
    a notification made by the RQ worker has neither)."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def users_with_roles(role_names):
    """Active users holding any of these roles."""
    if not role_names:
        return []
    return db.session.scalars(select(User).where(User.role.in_(list(role_names)),
                                                 User.active.is_(True))
                              .order_by(User.id)).all()


def people_of_machine(machine, include_roles=roles.MANAGERS):
    """The people a machine's events concern: holders of `include_roles` (managers by
    default) and the operators assigned to it, directly or through its line."""
    return [*users_with_roles(include_roles), *machine_operators_of(machine)]


def unread_count(user):
    return db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))) or 0


@badge_counter("notifications")
def _unread_badge(user):
    return unread_count(user)


def own_notifications(user, unread_only=False):
    """A select of the user's notifications (only theirs, ever), newest first."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return stmt.order_by(Notification.created_at.desc(), Notification.id.desc())


def notifications_for(user, unread_only=False, page=1):
    """One page (a flask-sqlalchemy Pagination) of the user's notifications, newest first."""
    return db.paginate(own_notifications(user, unread_only), page=page, per_page=PAGE_SIZE,
                       error_out=False)


def mark_read(user, notification=None):
    """Mark one notification (or, with None, all of the user's) read; returns how many."""
    stmt = update(Notification).where(Notification.user_id == user.id,
                                      Notification.read_at.is_(None))
    if notification is not None:
        stmt = stmt.where(Notification.id == notification.id)
    count = db.session.execute(stmt.values(read_at=utcnow())).rowcount
    if count:
        publish_badges("notifications", user_ids=[user.id])
    return count
