"""Where higher domains join in when alerts happen; alerts never name them.

Tasks registers here when its package is imported: it makes a maintenance task when a rule
that asks for one raises an alert, and lists the tasks made from an alert for its page.
"""

RAISED = []
TASK_LISTS = []


def on_alert_raised(fn):
    """Register `fn(alert, rule, again)`: `rule` (a cached rule) raised `alert`, or raised
    it again (`again`) after it had cleared. Runs inside the raising transaction."""
    RAISED.append(fn)
    return fn


def alert_raised(alert, rule, again=False):
    for fn in RAISED:
        fn(alert, rule, again)


def lists_alert_tasks(fn):
    """Register `fn(alert)` -> the maintenance tasks made from the alert, oldest first."""
    TASK_LISTS.append(fn)
    return fn


def tasks_of(alert):
    return [task for fn in TASK_LISTS for task in fn(alert)]
