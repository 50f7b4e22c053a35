"""Rules against readings: raising, clearing and re-activating alerts.

Runs inside the ingest transaction (`@on_readings`) and in the offline job. A batch costs
one version query for the rule cache; only when some rule watches a machine in the batch
do two more load the pending conditions and open alerts of those machines.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.blueprints.machines.models import Machine
from app.blueprints.notifications.services import link, notify, people_of_machine
from app.blueprints.telemetry.models import MachineState
from app.blueprints.telemetry.reactions import on_readings
from app.core.badges import publish_badges
from app.core.extensions import db
from app.core.models import as_utc
from app.realtime import publish_after_commit

from .hooks import alert_raised
from .models import Alert, AlertCondition, AlertEvent
from .rules import CACHE, format_value, machines_in_scope

# --- conditions ---------------------------------------------------------------------------

def metric_for(snap, machine_type):
    if snap.kind == "battery":
        return machine_type.metric_with_role("battery")
    return machine_type.metric(snap.metric_key or "")


def _compare(condition, value, threshold, metric):
    if condition == "outside":
        low, high = metric.normal_min, metric.normal_max
        return (low is not None and value < low) or (high is not None and value > high)
    if condition == "=":
        return value == threshold
    if condition == "!=":
        return value != threshold
    return {">": value > threshold, ">=": value >= threshold, "<": value < threshold,
            "<=": value <= threshold}[condition]


def holds(snap, metric, value):
    """True/False for a value of the metric; None when the reading says nothing about it."""
    if metric is None or value is None:
        return None
    if metric.kind == "number" and (isinstance(value, bool)
                                    or not isinstance(value, (int, float))):
        return None
    if snap.kind == "sensor_fault":
        return value is True
    try:
        return _compare(snap.condition, value, snap.threshold, metric)
    except TypeError:  # a threshold of another kind than the value: never true
        return False


# --- one batch ----------------------------------------------------------------------------

class Batch:
    """The pending conditions and open alerts of some machines, changed in memory and
    written once at the end."""

    def __init__(self, machine_ids):
        ids = list(machine_ids)
        self.conditions = {(c.rule_id, c.machine_id): c for c in db.session.scalars(
            select(AlertCondition).where(AlertCondition.machine_id.in_(ids)))}
        self.alerts = {(a.rule_id, a.machine_id): a for a in db.session.scalars(
            select(Alert).where(Alert.machine_id.in_(ids), Alert.closed_at.is_(None)))}
        self.stale = set()
        self.touched_users = set()

    def start(self, snap, machine, ts, value):
        key = (snap.id, machine.id)
        condition = self.conditions.get(key)
        if condition is None:
            condition = AlertCondition(rule_id=snap.id, machine_id=machine.id, since=ts,
                                       value=value)
            db.session.add(condition)
            self.conditions[key] = condition
        elif key in self.stale:
            self.stale.discard(key)
            condition.since = ts
        condition.value = value
        return condition

    def stop(self, snap, machine):
        key = (snap.id, machine.id)
        if key in self.conditions and key not in self.stale:
            self.stale.add(key)

    def finish(self):
        for key in self.stale:
            condition = self.conditions.pop(key)
            if condition in db.session.new:
                db.session.expunge(condition)
            else:
                db.session.delete(condition)
        if self.touched_users:
            publish_badges("alerts", user_ids=self.touched_users)


def evaluate(snap, machine, metric, ts, value, batch):
    state = holds(snap, metric, value)
    if state is None:
        return
    alert = batch.alerts.get((snap.id, machine.id))
    if not state:
        batch.stop(snap, machine)
        if alert is not None and alert.state == "active":
            clear_alert(alert, ts, batch)
        return
    condition = batch.start(snap, machine, ts, value)
    if as_utc(ts) - as_utc(condition.since) < timedelta(seconds=snap.sustained_seconds):
        return
    if alert is None:
        batch.alerts[(snap.id, machine.id)] = raise_alert(snap, machine, metric, value, ts,
                                                          batch)
    elif alert.state == "cleared":
        reactivate_alert(snap, alert, value, ts, batch)
    else:
        alert.value = value


@on_readings
def evaluate_readings(observations, now):
    cache = CACHE.current()
    work = [(o, rules) for o in observations if (rules := [
        r for r in cache.for_machine(o.machine) if r.applies_to(o.machine)])]
    if not work:
        return
    batch = Batch(o.machine.id for o, _ in work)
    metrics = {}
    for observation, rules in work:
        _evaluate_machine(observation, rules, batch, metrics)
    batch.finish()


def _evaluate_machine(observation, rules, batch, metrics):
    """`metrics` maps (rule, machine type) to the rule's metric for the whole batch: looked
    up per machine it was most of the evaluation's cost (bench/reactions.py)."""
    machine, late_before = observation.machine, observation.previous_ts
    for snap in rules:
        if snap.kind == "offline":
            alert = batch.alerts.get((snap.id, machine.id))
            if alert is not None and alert.state == "active":
                clear_alert(alert, observation.readings[-1][0], batch)
            continue
        key = (snap.id, machine.machine_type_id)
        if key not in metrics:
            metrics[key] = metric_for(snap, machine.machine_type)
        metric = metrics[key]
        if metric is None:
            continue
        # Oldest first, stored and unchanged alike: a reading without the metric says
        # nothing, so it neither starts nor stops the condition. A late reading (older
        # than what the machine had already reported) is history and must not roll the
        # alert's state back, as it does not roll the latest values back.
        for ts, values in observation.readings:
            if metric.key in values and (late_before is None or ts >= late_before):
                evaluate(snap, machine, metric, ts, values[metric.key], batch)


# --- raising and clearing ---------------------------------------------------------------

def render_message(snap, machine, metric, value):
    unit = (metric.unit if metric is not None else "") or ""
    fields = {"machine": machine.code, "metric": metric.label if metric else "",
              "value": format_value(value), "unit": unit,
              "threshold": format_value(snap.threshold), "rule": snap.name,
              "severity": snap.severity}
    try:
        return snap.message_template.format(**fields)[:400]
    except (KeyError, IndexError, ValueError):
        # Checked when saved; an old or hand-edited template must not stop the ingest.
        return f"{snap.name} on {machine.code}"[:400]


def _record(alert, kind, detail, at, actor=None):
    db.session.add(AlertEvent(alert=alert, actor=actor, at=at, kind=kind, detail=detail))


def _announce(alert, machine, title, batch):
    people = people_of_machine(machine)
    notify(people, "alert", title, link("alerts.show", alert_id=alert.id), body=alert.message)
    batch.touched_users.update(u.id for u in people)


def raise_alert(snap, machine, metric, value, ts, batch):
    # Ingest hands over the registry snapshot's MachineInfo; the alert and its
    # notifications need the row (one query, only when an alert is raised).
    machine = db.session.get(Machine, machine.id)
    alert = Alert(rule_id=snap.id, machine=machine, severity=snap.severity,
                  message=render_message(snap, machine, metric, value), value=value,
                  state="active", raised_at=ts)
    db.session.add(alert)
    db.session.flush()
    _record(alert, "raised", f"Raised: {alert.message}", ts)
    _announce(alert, machine, f"{alert.severity_label} alert on {machine.code}: {snap.name}",
              batch)
    publish_after_commit("alert.raised", id=alert.id, machine_id=machine.id)
    alert_raised(alert, snap)
    return alert


def reactivate_alert(snap, alert, value, ts, batch):
    alert.state, alert.cleared_at, alert.value = "active", None, value
    _record(alert, "reactivated", f"Re-activated: the condition is back "
            f"({format_value(value)})", ts)
    _announce(alert, alert.machine, f"Alert on {alert.machine.code} is back: {snap.name}",
              batch)
    publish_after_commit("alert.changed", id=alert.id, machine_id=alert.machine_id)
    alert_raised(alert, snap, again=True)


def clear_alert(alert, at, batch):
    alert.state, alert.cleared_at = "cleared", at
    _record(alert, "cleared", "Cleared: the condition is back to normal", at)
    publish_after_commit("alert.changed", id=alert.id, machine_id=alert.machine_id)


# --- offline ------------------------------------------------------------------------------

def poll_interval():
    return current_app.config.get("POLL_INTERVAL_SECONDS", 20)


def check_offline(now):
    """Raise (or re-activate) offline alerts for machines silent for N poll intervals.

    Machines never heard from are left alone: nothing was ever received, so there is no
    connection to lose (commissioning machines would otherwise alert from day one).
    Returns the alerts raised or re-activated.
    """
    rules = [r for r in CACHE.current().all if r.kind == "offline"]
    changed = []
    for snap in rules:
        silent_since = now - timedelta(seconds=snap.offline_intervals * poll_interval())
        machines = db.session.scalars(machines_in_scope(snap).join(
            MachineState, MachineState.machine_id == Machine.id).where(
            MachineState.last_seen_at < silent_since, Machine.status != "retired")).all()
        if machines:
            changed += _raise_offline(snap, machines, now)
    return changed


def _raise_offline(snap, machines, now):
    batch = Batch(m.id for m in machines)
    changed = []
    for machine in machines:
        silent = _duration(now - as_utc(machine.state.last_seen_at))
        alert = batch.alerts.get((snap.id, machine.id))
        if alert is None:
            changed.append(raise_alert(snap, machine, None, silent, now, batch))
        elif alert.state == "cleared":
            reactivate_alert(snap, alert, silent, now, batch)
            changed.append(alert)
    batch.finish()
    return changed


def _duration(delta):
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"
