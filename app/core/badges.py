"""Counts in the navigation (open alerts, my tasks, unread notifications), kept live.

A domain registers a counter; whoever changes a count publishes `badges.changed` after
commit, and each affected user's open pages get the new number as an out-of-band swap.
"""

from flask import g, has_request_context, render_template

from app.realtime import live_global, live_renderer, publish_after_commit

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
    """After commit, refresh these badges for these users (None: everyone connected)."""
    publish_after_commit("badges.changed", names=list(names),
                         user_ids=sorted(user_ids) if user_ids is not None else None)


def render_badges(user, names):
    return "".join(render_template("_badge.html", name=name, count=COUNTERS[name](user),
                                   oob=True)
                   for name in names if name in COUNTERS)


@live_renderer("badges.changed", by_page=False)
def badge_fragments(message, user, _page):
    user_ids = message.get("user_ids")
    if user_ids is not None and user.id not in user_ids:
        return None
    return render_badges(user, message.get("names") or [])


@live_global
def resync_badges(user, _since):
    """A (re)connecting page shows today's counts, whatever it missed while away."""
    return render_badges(user, list(COUNTERS))
