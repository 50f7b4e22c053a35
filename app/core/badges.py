"""Counts in the navigation (open alerts, my tasks, unread notifications), kept live.

A domain registers a counter; whoever changes a count publishes `badges.changed` after
commit, and each affected user's open pages get the new number as an out-of-band swap.
"""

from flask import g, has_request_context, render_template

from app.realtime import live_global, live_renderer, publish_after_commit, take_pending

COUNTERS = {}


def badge_counter(name):
    """Register `fn(user) -> int` as the count shown beside the navigation item `name`."""
    def decorator(fn):
        COUNTERS[name] = fn
        return fn
    return decorator


def badge_counts(user):
    """Every badge's count for `user`, counted once per request (the layout and a page
    body may both show them)."""
    if not has_request_context():
        return {name: fn(user) for name, fn in COUNTERS.items()}
    cache = g.setdefault("badge_counts", {})
    if user.id not in cache:
        cache[user.id] = {name: fn(user) for name, fn in COUNTERS.items()}
    return cache[user.id]


def publish_badges(*names, user_ids=None):
    """After commit, refresh these badges for these users (None: everyone connected).

    One commit's badge changes go out as one `badges.changed` event, queued after the
    events that changed the counts, so each user's badges render once per commit. Its
    `users` maps a badge name to the ids to tell (None: everyone).
    """
    users = (take_pending("badges.changed") or {}).get("users", {})
    for name in names:
        told = users.get(name, [])
        users[name] = (None if told is None or user_ids is None
                       else sorted(set(told) | set(user_ids)))
    publish_after_commit("badges.changed", names=sorted(users), users=users)


def render_badges(user, names):
    return "".join(render_template("_badge.html", name=name, count=COUNTERS[name](user),
                                   oob=True)
                   for name in names if name in COUNTERS)


@live_renderer("badges.changed", by_page=False)
def badge_fragments(message, user, _page):
    names = [name for name, ids in (message.get("users") or {}).items()
             if ids is None or user.id in ids]
    return render_badges(user, names) or None


@live_global
def resync_badges(user, _since):
    """A (re)connecting page shows today's counts, whatever it missed while away."""
    return render_badges(user, list(COUNTERS))
