"""Template helpers: navigation by role, dates people can read."""

from datetime import UTC, datetime

from flask import url_for
from flask_login import current_user

from .blueprints.auth import roles
from .models_base import as_utc

# (label, endpoint, roles allowed, endpoints that count as "here"[, badge name])
NAV = (
    ("Home", "dashboard.home", roles.EVERYONE, ("dashboard.",)),
    ("Machines", "machines.index", roles.EVERYONE,
     ("machines.index", "machines.show", "machines.new", "machines.edit")),
    ("Alerts", "alerts.index", roles.MANAGERS | roles.MACHINE_BOUND,
     ("alerts.index", "alerts.show", "alerts.rules", "alerts.new_rule", "alerts.edit_rule",
      "alerts.delete_rule"), "alerts"),
    ("Andon", "alerts.andon", roles.EVERYONE, ("alerts.andon", "alerts.andon_machine",
     "alerts.andon_raise", "alerts.andon_line", "alerts.andon_call", "alerts.andon_resolve",
     "alerts.andon_escalation", "alerts.andon_new_level", "alerts.andon_edit_level",
     "alerts.andon_delete_level"), "andon"),
    ("Tasks", "tasks.index", roles.EVERYONE, ("tasks.",), "tasks"),
    ("Logbook", "logbook.index", roles.EVERYONE, ("logbook.",)),
    ("Types", "machines.types", roles.PLANT_WIDE, ("machines.types", "machines.show_type",
                                                   "machines.new_type", "machines.edit_type",
                                                   "machines.new_metric",
                                                   "machines.edit_metric")),
    ("Lines", "machines.lines", roles.PLANT_WIDE, ("machines.lines", "machines.new_line",
                                                   "machines.edit_line",
                                                   "machines.departments",
                                                   "machines.new_department",
                                                   "machines.edit_department")),
    ("People", "auth.users", roles.MANAGERS, ("auth.users", "auth.show_user",
                                              "auth.new_user", "auth.edit_assignments")),
)


def nav_items(endpoint):
    if not current_user.is_authenticated or current_user.needs_setup:
        return []
    items = []
    for label, target, allowed, here, *badge in NAV:
        if current_user.role in allowed:
            active = any(endpoint == h or (h.endswith(".") and endpoint.startswith(h))
                         for h in here)
            items.append({"label": label, "url": url_for(target), "active": active,
                          "badge": badge[0] if badge else None})
    return items


def format_datetime(value, fmt="%d %b %Y %H:%M"):
    if value is None:
        return "—"
    return as_utc(value).strftime(fmt) + " UTC"


def time_ago(value):
    if value is None:
        return "never"
    seconds = int((datetime.now(UTC) - as_utc(value)).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"
