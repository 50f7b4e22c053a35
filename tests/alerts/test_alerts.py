"""Alert rules and alerts: evaluation on the ingest path, offline checks, pages, access."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.blueprints.alerts import rules
from app.blueprints.alerts.evaluation import check_offline
from app.blueprints.alerts.models import Alert, AlertCondition, AlertEvent, AlertRule
from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Metric
from app.blueprints.notifications.models import Notification
from app.blueprints.tasks.models import Task
from app.blueprints.telemetry.ingest import ingest
from app.core.extensions import db
from app.realtime import pending_events
from tests.helpers import text_of

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def at(seconds):
    return T0 + timedelta(seconds=seconds)


def feed(machine, *readings, now=None):
    """Readings (seconds after T0, values) through the real ingest path, committed."""
    last = max(s for s, _ in readings)
    result = ingest([{"ts": at(s).isoformat(), "values": v} for s, v in readings], "webhook",
                    machine=machine, now=now or at(last + 1))
    db.session.commit()
    return result


def alerts_of(machine):
    return db.session.scalars(select(Alert).where(Alert.machine_id == machine.id)
                              .order_by(Alert.id)).all()


def kinds(alert):
    db.session.refresh(alert)
    return [e.kind for e in alert.events]


@pytest.fixture
def plant(make_machine_type, make_machine, make_line, make_user):
    """A CNC type (temperature 20–70, vibration 0–5), a line with an operator, a machine."""
    cnc = make_machine_type("CNC", metrics=(("temperature", "Temperature", "°C", 20, 70),
                                            ("vibration", "Vibration", "mm/s", 0, 5)))
    operator = make_user("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="CNC-1", machine_type=cnc, line=line)
    return cnc, machine, operator


# --- evaluation -----------------------------------------------------------------------------

def test_threshold_at_once_raises_one_alert_with_the_template(plant, make_alert_rule):
    cnc, machine, _ = plant
    make_alert_rule(cnc, template="{machine} {metric} at {value}{unit} over {threshold}")
    feed(machine, (0, {"temperature": 65}), (1, {"temperature": 75}), (2, {"temperature": 80}))
    [alert] = alerts_of(machine)
    assert alert.message == "CNC-1 Temperature at 75°C over 70"
    assert (alert.state, alert.value, alert.raised_at) == ("active", 80, at(1))
    assert kinds(alert) == ["raised"]


def test_sustained_condition_waits_for_device_time(plant, make_alert_rule):
    cnc, machine, _ = plant
    made = make_alert_rule(cnc, sustained=20)
    feed(machine, (0, {"temperature": 75}), (10, {"temperature": 76}))
    assert alerts_of(machine) == []
    condition = db.session.get(AlertCondition, (made.id, machine.id))
    assert condition.since == at(0)
    feed(machine, (19, {"temperature": 77}))
    assert alerts_of(machine) == []
    feed(machine, (20, {"temperature": 78}))
    [alert] = alerts_of(machine)
    assert alert.raised_at == at(20)


def test_a_dip_restarts_the_sustained_clock(plant, make_alert_rule):
    cnc, machine, _ = plant
    made = make_alert_rule(cnc, sustained=20)
    feed(machine, (0, {"temperature": 75}), (10, {"temperature": 60}), (15, {"temperature": 75}),
         (30, {"temperature": 75}))
    assert alerts_of(machine) == []
    assert db.session.get(AlertCondition, (made.id, machine.id)).since == at(15)
    feed(machine, (35, {"temperature": 60}))
    assert db.session.get(AlertCondition, (made.id, machine.id)) is None


def test_unchanged_readings_are_evaluated_too(plant, make_alert_rule):
    """The same hot value repeated is not stored, but it still counts towards the time."""
    cnc, machine, _ = plant
    make_alert_rule(cnc, sustained=30)
    feed(machine, (0, {"temperature": 75}))
    result = feed(machine, (15, {"temperature": 75}), (30, {"temperature": 75}))
    assert result.unchanged == 2 and result.stored == 0
    [alert] = alerts_of(machine)
    assert alert.raised_at == at(30)


def test_one_open_alert_per_rule_and_machine(plant, make_alert_rule):
    cnc, machine, _ = plant
    make_alert_rule(cnc)
    feed(machine, (0, {"temperature": 75}))
    feed(machine, (5, {"temperature": 90}))
    feed(machine, (10, {"temperature": 95}))
    [alert] = alerts_of(machine)
    assert alert.value == 95


def test_clearing_and_reactivation_keep_one_alert(plant, make_alert_rule):
    cnc, machine, _ = plant
    make_alert_rule(cnc)
    feed(machine, (0, {"temperature": 75}), (5, {"temperature": 60}))
    [alert] = alerts_of(machine)
    assert (alert.state, alert.cleared_at) == ("cleared", at(5))
    cleared = alert.events[-1]
    assert (cleared.kind, cleared.actor_id, cleared.at) == ("cleared", None, at(5))
    feed(machine, (10, {"temperature": 80}))
    assert alerts_of(machine) == [alert]
    assert (alert.state, alert.cleared_at) == ("active", None)
    assert kinds(alert) == ["raised", "cleared", "reactivated"]


def test_a_closed_alert_lets_a_new_one_open(plant, make_user, make_alert_rule):
    cnc, machine, _ = plant
    make_alert_rule(cnc, sustained=10)
    feed(machine, (0, {"temperature": 75}), (10, {"temperature": 75}))
    [first] = alerts_of(machine)
    from app.blueprints.alerts.alert_services import close_alert
    close_alert(first, make_user("shift_manager"), "fan cleaned")
    db.session.commit()
    # Still hot: the condition starts afresh, so the next alert waits the sustained time.
    feed(machine, (15, {"temperature": 75}))
    assert len(alerts_of(machine)) == 1
    feed(machine, (25, {"temperature": 75}))
    assert [a.closed_at is None for a in alerts_of(machine)] == [False, True]


def test_a_late_normal_reading_does_not_clear_a_newer_alert(plant, make_alert_rule):
    cnc, machine, _ = plant
    make_alert_rule(cnc)
    feed(machine, (10, {"temperature": 90}))
    feed(machine, (5, {"temperature": 50}), now=at(12))
    [alert] = alerts_of(machine)
    assert alert.state == "active"


def test_outside_normal_range(plant, make_alert_rule):
    cnc, machine, _ = plant
    make_alert_rule(cnc, metric_key="vibration", condition="outside", threshold="",
                    name="Vibration")
    feed(machine, (0, {"vibration": 3}))
    assert alerts_of(machine) == []
    feed(machine, (5, {"vibration": 7.5}))
    [alert] = alerts_of(machine)
    assert alert.value == 7.5


def test_a_one_machine_rule_watches_only_that_machine(plant, make_machine, make_alert_rule):
    cnc, machine, _ = plant
    other = make_machine(code="CNC-2", machine_type=cnc)
    make_alert_rule(machine=machine)
    feed(other, (0, {"temperature": 90}))
    feed(machine, (0, {"temperature": 90}))
    assert len(alerts_of(machine)) == 1 and alerts_of(other) == []


def test_battery_rule_uses_the_metric_with_the_battery_role(make_machine_type, make_machine,
                                                            make_alert_rule):
    sensor = make_machine_type("Sensor", metrics=())
    machine_services.save_metric(sensor, Metric(), "batt", "Battery", "%", "number", 0, 100,
                                 "battery")
    db.session.commit()
    machine = make_machine(code="S-1", machine_type=sensor)
    made = make_alert_rule(sensor, kind="battery", metric_key="", condition="", threshold="20",
                           name="Battery low")
    assert (made.metric_key, made.condition, made.threshold) == ("batt", "<", 20)
    feed(machine, (0, {"batt": 25}), (60, {"batt": 19}))
    [alert] = alerts_of(machine)
    assert alert.value == 19 and "19%" in alert.message


def test_sensor_fault_rule_on_a_boolean_flag_for_every_machine(make_machine_type,
                                                             make_machine, make_alert_rule):
    probe = make_machine_type("Probe", metrics=(("temperature", "Temperature", "°C", 0, 90),))
    machine_services.save_metric(probe, Metric(), "fault", "Sensor fault", "", "boolean",
                                 None, None, None)
    db.session.commit()
    machine = make_machine(code="P-1", machine_type=probe)
    make_alert_rule(kind="sensor_fault", metric_key="fault", condition="", threshold="",
                    name="Sensor fault", severity="critical")
    feed(machine, (0, {"fault": False}))
    assert alerts_of(machine) == []
    feed(machine, (5, {"fault": True}))
    feed(machine, (9, {"fault": False}))
    [alert] = alerts_of(machine)
    assert (alert.severity, alert.state) == ("critical", "cleared")


def test_disabled_rules_and_other_types_cost_nothing(plant, make_machine_type, make_machine,
                                                     make_alert_rule, count_queries):
    cnc, machine, _ = plant
    make_alert_rule(cnc, enabled=False)
    quiet = make_machine(code="Q-1", machine_type=make_machine_type("Quiet"))
    feed(machine, (0, {"temperature": 99}))
    assert alerts_of(machine) == []
    with count_queries() as statements:
        ingest([{"ts": at(5).isoformat(), "values": {"temperature": 99}}], "webhook",
               machine=quiet, now=at(6))
        ingest([{"ts": at(5).isoformat(), "values": {"temperature": 99}}], "webhook",
               machine=machine, now=at(6))
    db.session.rollback()
    # Not one statement for the rules: the ingest statement reads the rules' version with
    # the machines' (registry_versions), and neither machine has an enabled rule.
    assert [s for s in statements if "alert" in s] == []
    versions = [s for s in statements if "registry_versions" in s]
    assert versions and all("INSERT INTO readings" in s for s in versions)


def test_cache_is_reloaded_after_an_edit(plant, make_alert_rule):
    cnc, machine, _ = plant
    made = make_alert_rule(cnc, threshold="90")
    feed(machine, (0, {"temperature": 80}))
    assert alerts_of(machine) == []
    rules.save_rule(made, name=made.name, kind="threshold", machine_type=cnc, machine=None,
                    metric_key="temperature", condition=">", threshold="75",
                    sustained_seconds=0, offline_intervals=None, severity="critical",
                    template="", create_task=False, enabled=True)
    db.session.commit()
    feed(machine, (5, {"temperature": 80}))
    [alert] = alerts_of(machine)
    assert alert.severity == "critical"
    rules.set_enabled(made, False)
    db.session.commit()
    feed(machine, (10, {"temperature": 60}))
    assert alert.state == "active", "a disabled rule no longer clears or raises"


def test_raising_notifies_managers_and_the_machines_operators(plant, make_user, make_alert_rule):
    cnc, machine, operator = plant
    manager = make_user("production_manager")
    stranger = make_user("operator")
    make_user("maintenance")
    make_alert_rule(cnc)
    ingest([{"ts": at(0).isoformat(), "values": {"temperature": 90}}], "webhook",
           machine=machine, now=at(1))
    events = {e["event"] for e in pending_events()}
    assert {"alert.raised", "badges.changed", "notification.created"} <= events
    db.session.commit()
    [alert] = alerts_of(machine)
    told = set(db.session.scalars(select(Notification.user_id).where(
        Notification.kind == "alert", Notification.url == f"/alerts/{alert.id}")))
    assert {manager.id, operator.id} <= told
    assert stranger.id not in told
    roles_told = {db.session.get(type(manager), uid).role for uid in told}
    assert roles_told <= {"admin", "production_manager", "shift_manager", "operator"}


def test_rule_with_create_task_makes_exactly_one_task(plant, make_alert_rule):
    cnc, machine, operator = plant
    make_alert_rule(cnc, severity="critical", create_task=True)
    feed(machine, (0, {"temperature": 90}), (5, {"temperature": 60}), (10, {"temperature": 91}))
    [alert] = alerts_of(machine)
    [task] = db.session.scalars(select(Task).where(Task.alert_id == alert.id)).all()
    assert (task.source, task.priority, task.machine_id) == ("rule", "critical", machine.id)
    assert operator in task.assignees
    # Finished: the next re-activation makes a new task.
    task.status = "finished"
    db.session.commit()
    feed(machine, (15, {"temperature": 60}), (20, {"temperature": 95}))
    assert db.session.scalar(select(func.count()).select_from(Task).where(
        Task.alert_id == alert.id)) == 2


# --- offline ----------------------------------------------------------------------------

def test_offline_job_raises_and_a_reading_clears(plant, make_machine, app, make_alert_rule):
    cnc, machine, _ = plant
    never = make_machine(code="NEW-1", machine_type=cnc)
    make_alert_rule(kind="offline", metric_key="", condition="", threshold="", offline_intervals=3,
                    name="Offline", severity="warning")
    feed(machine, (0, {"temperature": 50}), now=at(0))
    interval = app.config["POLL_INTERVAL_SECONDS"]
    assert check_offline(at(3 * interval - 1)) == []
    raised = check_offline(at(3 * interval + 1))
    db.session.commit()
    assert [a.machine_id for a in raised] == [machine.id]
    assert alerts_of(never) == [], "a machine never heard from is not offline"
    assert check_offline(at(3 * interval + 30)) == [], "safe to run twice"
    feed(machine, (100, {"temperature": 50}))
    [alert] = alerts_of(machine)
    assert alert.state == "cleared"
    assert kinds(alert) == ["raised", "cleared"]


def test_offline_job_runs_as_a_job(plant, app, make_alert_rule):
    from app.jobs.alerts import check_offline_machines

    make_alert_rule(kind="offline", metric_key="", condition="", threshold="", offline_intervals=1,
                    name="Offline")
    _, machine, _ = plant
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    ingest([{"ts": an_hour_ago.isoformat(), "values": {"temperature": 50}}], "webhook",
           machine=machine, now=an_hour_ago)
    db.session.commit()
    assert check_offline_machines() == 1
    assert alerts_of(machine)[0].message.startswith("CNC-1 has not reported for")


# --- rule validation ----------------------------------------------------------------------

def _rule_data(machine_type, **overrides):
    data = {"name": "Hot", "kind": "threshold", "machine_type_id": machine_type.id,
            "machine_id": 0, "metric_key": "temperature", "condition": ">",
            "threshold": "70", "sustained_seconds": "0", "offline_intervals": "",
            "severity": "warning", "message_template": "", "enabled": "y"}
    data.update(overrides)
    return data


@pytest.mark.parametrize("overrides, message", [
    ({"metric_key": "pressure"}, "has no metric “pressure”"),
    ({"threshold": "hot"}, "is a number: give a number"),
    ({"threshold": ""}, "Give a threshold"),
    ({"message_template": "{machine} is {colour}"}, "Unknown placeholder {colour}"),
    ({"message_template": "{machine"}, "Braces must come in pairs"),
    ({"kind": "battery"}, "no metric with the battery role"),
    ({"kind": "sensor_fault"}, "a sensor fault needs a boolean metric"),
    ({"kind": "offline"}, "at least 1 poll interval"),
    ({"kind": "threshold", "machine_type_id": 0}, "needs a machine type or one machine"),
    ({"sustained_seconds": "-5"}, "Between 0 and 86400"),
])
def test_bad_rules_are_refused_with_a_message(logged_in, plant, overrides, message):
    browser, _ = logged_in("shift_manager")
    cnc, _, _ = plant
    response = browser.post("/alerts/rules/new", _rule_data(cnc, **overrides))
    assert response.status_code == 422
    assert message in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(AlertRule)) == 0


def test_boolean_threshold_needs_equality_and_outside_needs_a_range(logged_in,
                                                                    make_machine_type):
    browser, _ = logged_in("admin")
    kind = make_machine_type("Press", metrics=(("pressure", "Pressure", "bar", None, None),))
    machine_services.save_metric(kind, Metric(), "door", "Door open", "", "boolean", None,
                                 None, None)
    db.session.commit()
    response = browser.post("/alerts/rules/new", _rule_data(kind, metric_key="door",
                                                            threshold="true"))
    assert response.status_code == 422 and "use “equal to” or “not equal to”" in \
        text_of(response)
    response = browser.post("/alerts/rules/new", _rule_data(kind, metric_key="pressure",
                                                            condition="outside"))
    assert response.status_code == 422 and "needs a normal range on Pressure" in \
        text_of(response)
    response = browser.post("/alerts/rules/new", _rule_data(kind, metric_key="door",
                                                            condition="=", threshold="true"))
    assert response.status_code == 302
    assert db.session.scalar(select(AlertRule.threshold)) is True


def test_a_manager_makes_edits_disables_and_deletes_a_rule(logged_in, plant):
    browser, manager = logged_in("shift_manager")
    cnc, _, _ = plant
    assert browser.post("/alerts/rules/new", _rule_data(cnc, sustained_seconds="20")
                        ).status_code == 302
    made = db.session.scalar(select(AlertRule))
    assert (made.threshold, made.sustained_seconds, made.created_by_id) == (70, 20, manager.id)
    assert browser.post(f"/alerts/rules/{made.id}/edit",
                        _rule_data(cnc, threshold="72.5")).status_code == 302
    db.session.refresh(made)
    assert made.threshold == 72.5
    assert "Temperature" in text_of(browser.get(
        f"/alerts/rules/metrics?machine_type_id={cnc.id}", headers={"HX-Request": "true"}))
    browser.post(f"/alerts/rules/{made.id}/toggle")
    db.session.refresh(made)
    assert made.enabled is False
    assert browser.post(f"/alerts/rules/{made.id}/delete").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(AlertRule)) == 0


def test_the_rule_form_over_htmx(logged_in, plant):
    browser, _ = logged_in("shift_manager")
    cnc, _, _ = plant
    hx = {"HX-Request": "true"}
    bad = browser.post("/alerts/rules/new", _rule_data(cnc, threshold="warm"), headers=hx)
    assert bad.status_code == 422
    assert text_of(bad).lstrip().startswith("<form") and 'value="warm"' in text_of(bad)
    good = browser.post("/alerts/rules/new", _rule_data(cnc), headers=hx)
    assert (good.status_code, good.headers["HX-Redirect"]) == (204, "/alerts/rules")


def test_a_rule_with_alerts_cannot_be_deleted(logged_in, plant, make_alert_rule):
    browser, _ = logged_in("admin")
    cnc, machine, _ = plant
    made = make_alert_rule(cnc)
    feed(machine, (0, {"temperature": 90}))
    page = text_of(browser.get(f"/alerts/rules/{made.id}/delete"))
    assert "Disable it instead" in page
    assert f'action="/alerts/rules/{made.id}/toggle"' in page
    browser.post(f"/alerts/rules/{made.id}/delete")
    assert db.session.get(AlertRule, made.id) is not None
    follow = text_of(browser.get(f"/alerts/rules/{made.id}/edit"))
    assert "Disable the rule instead" in follow


def test_operators_read_rules_but_may_not_change_them(logged_in, plant, make_alert_rule):
    browser, _ = logged_in("operator")
    cnc, _, _ = plant
    made = make_alert_rule(cnc)
    assert "Overheating" in text_of(browser.get("/alerts/rules"))
    assert browser.post("/alerts/rules/new", _rule_data(cnc)).status_code == 403
    assert browser.post(f"/alerts/rules/{made.id}/toggle").status_code == 403
    db.session.refresh(made)
    assert made.enabled is True


# --- alert pages and access ---------------------------------------------------------------

@pytest.fixture
def hot(plant, make_alert_rule):
    cnc, machine, _ = plant
    make_alert_rule(cnc)
    feed(machine, (0, {"temperature": 90}))
    return alerts_of(machine)[0]


def test_assigned_operator_sees_the_alert_and_an_unassigned_one_does_not(
        hot, new_browser, make_user):
    from tests.conftest import PASSWORD

    mine = hot.machine.line.operators[0]
    stranger = make_user("operator")
    assigned, other = new_browser(), new_browser()
    assigned.login(mine.username, PASSWORD)
    other.login(stranger.username, PASSWORD)
    assert hot.message in text_of(assigned.get("/alerts/"))
    assert assigned.get(f"/alerts/{hot.id}").status_code == 200
    assert hot.message not in text_of(other.get("/alerts/"))
    assert other.get(f"/alerts/{hot.id}").status_code == 403
    assert other.post(f"/alerts/{hot.id}/acknowledge").status_code == 403


def test_other_roles_get_403(hot, logged_in):
    for role in ("viewer", "maintenance"):
        browser, _ = logged_in(role)
        assert browser.get("/alerts/").status_code == 403
        assert browser.get(f"/alerts/{hot.id}").status_code == 403


def test_only_managers_close(hot, new_browser, make_user):
    from tests.conftest import PASSWORD

    operator = hot.machine.line.operators[0]
    floor = new_browser()
    floor.login(operator.username, PASSWORD)
    assert floor.post(f"/alerts/{hot.id}/close", {"note": "done"}).status_code == 403
    db.session.refresh(hot)
    assert hot.closed_at is None and kinds(hot) == ["raised"]
    manager = make_user("shift_manager")
    desk = new_browser()
    desk.login(manager.username, PASSWORD)
    assert desk.post(f"/alerts/{hot.id}/close", {"note": "fan cleaned"}).status_code == 302
    db.session.refresh(hot)
    assert (hot.closed_by_id, hot.close_note) == (manager.id, "fan cleaned")
    assert hot.events[-1].detail == "Closed: fan cleaned"
    assert hot.message not in text_of(desk.get("/alerts/"))
    assert hot.message in text_of(desk.get("/alerts/?state=closed"))


def test_acknowledge_and_comment_are_kept_in_the_history(hot, new_browser):
    from tests.conftest import PASSWORD

    operator = hot.machine.line.operators[0]
    floor = new_browser()
    floor.login(operator.username, PASSWORD)
    assert floor.post(f"/alerts/{hot.id}/acknowledge").status_code == 302
    assert floor.post(f"/alerts/{hot.id}/comment", {"text": "Coolant low, topped up"}
                      ).status_code == 302
    empty = floor.post(f"/alerts/{hot.id}/comment", {"text": "  "})
    assert empty.status_code == 422 and "Write a comment first" in text_of(empty)
    db.session.refresh(hot)
    assert hot.acknowledged_by_id == operator.id
    history = [(e.kind, e.actor_id, e.detail) for e in hot.events]
    assert history[1:] == [("acknowledged", operator.id, "Acknowledged"),
                           ("commented", operator.id, "Coolant low, topped up")]
    page = text_of(floor.get(f"/alerts/{hot.id}"))
    assert "Coolant low, topped up" in page and operator.display_name in page
    assert "Close alert" not in page
    assert f"/logbook/new?machine={hot.machine_id}&amp;source=alert&amp;ref={hot.id}" in page


def test_one_tap_acknowledge_from_the_list(hot, new_browser):
    from tests.conftest import PASSWORD

    operator = hot.machine.line.operators[0]
    floor = new_browser()
    floor.login(operator.username, PASSWORD)
    listing = text_of(floor.get("/alerts/"))
    assert f'action="/alerts/{hot.id}/acknowledge"' in listing
    row = floor.post(f"/alerts/{hot.id}/acknowledge", {"row": "1"},
                     headers={"HX-Request": "true"})
    html = text_of(row)
    assert row.status_code == 200 and html.lstrip().startswith(f'<tr id="alert-{hot.id}-row"')
    assert "Acknowledged" in html and f'action="/alerts/{hot.id}/acknowledge"' not in html
    db.session.refresh(hot)
    assert hot.acknowledged_by_id == operator.id


def test_badge_counts_open_unacknowledged_alerts_the_user_sees(hot, make_user):
    from app.core.badges import COUNTERS

    operator = hot.machine.line.operators[0]
    assert COUNTERS["alerts"](operator) == 1
    assert COUNTERS["alerts"](make_user("operator")) == 0
    assert COUNTERS["alerts"](make_user("viewer")) == 0
    from app.blueprints.alerts.alert_services import acknowledge_alert
    acknowledge_alert(hot, operator)
    db.session.commit()
    assert COUNTERS["alerts"](operator) == 0


def test_list_filters(hot, logged_in, make_machine):
    browser, _ = logged_in("admin")
    line = hot.machine.line.id
    assert hot.message in text_of(browser.get(f"/alerts/?line={line}&severity=warning"))
    assert hot.message not in text_of(browser.get("/alerts/?severity=critical"))
    assert hot.message not in text_of(browser.get("/alerts/?from=2030-01-01"))
    assert hot.message in text_of(browser.get("/alerts/?state=active&from=2026-11-30"
                                              "&to=2026-11-30"))
    bad = text_of(browser.get("/alerts/?from=yesterday"))
    assert "is not a date" in bad
    partial = browser.get("/alerts/", headers={"HX-Request": "true"})
    assert text_of(partial).lstrip().startswith('<div id="alert-list">')


def test_the_list_costs_the_same_few_queries_for_many_alerts(logged_in, plant, make_machine,
                                                             make_line, make_alert_rule,
                                                             make_alert, count_queries):
    browser, manager = logged_in("shift_manager")
    cnc, machine, _ = plant
    machines = [machine, make_machine(code="CNC-2", machine_type=cnc, line=make_line()),
                make_machine(code="CNC-3", machine_type=cnc)]
    rules_made = [make_alert_rule(cnc, name=f"Rule {n}", threshold=str(70 + n)) for n in range(3)]

    def add(count, closed_at=None):
        # One open alert per rule and machine; the rest closed, as history piles up.
        for n in range(count):
            make_alert(rules_made[n % 3], machines[n % len(machines)], severity="warning",
                       message=f"Alert {n}", value=n, closed_at=closed_at,
                       closed_by=closed_at and manager, acknowledged_by=manager,
                       acknowledged_at=T0)
    add(3)
    with count_queries() as few:
        assert browser.get("/alerts/?state=all").status_code == 200
    # More alerts on more machines and lines: a query per row or per machine would show.
    machines += [make_machine(code=f"CNC-{n}", machine_type=cnc, line=make_line())
                 for n in range(4, 10)]
    add(24, closed_at=T0)
    with count_queries() as many:
        assert browser.get("/alerts/?state=all").status_code == 200
    assert len(many) == len(few)


def test_manager_makes_a_task_from_the_alert(hot, logged_in):
    browser, _ = logged_in("production_manager")
    assert browser.post(f"/tasks/from-alert/{hot.id}").status_code == 302
    task = db.session.scalar(select(Task).where(Task.alert_id == hot.id))
    assert task.source == "alert"
    page = text_of(browser.get(f"/alerts/{hot.id}"))
    assert f"Open task #{task.id}" in page and "Create maintenance task" not in page
    browser.post(f"/tasks/from-alert/{hot.id}")
    assert db.session.scalar(select(func.count()).select_from(Task).where(
        Task.alert_id == hot.id)) == 1, "one open task per alert is enough"


def test_machine_partial_lists_open_alerts(hot, app, make_user):
    from flask_login import current_user, login_user

    from app.blueprints.alerts.panels import machine_alerts

    with app.test_request_context():
        login_user(hot.machine.line.operators[0])
        html = machine_alerts(hot.machine, current_user)
        assert hot.message in html and f"/alerts/{hot.id}" in html
        login_user(make_user("viewer"))
        assert machine_alerts(hot.machine, current_user).strip() \
            == ""


def test_events_are_recorded_for_every_change(hot):
    assert db.session.scalar(select(func.count()).select_from(AlertEvent).where(
        AlertEvent.alert_id == hot.id)) == 1


# --- live ---------------------------------------------------------------------------------

@pytest.mark.live
def test_a_raised_alert_reaches_an_open_alert_list(live_server, plant, make_user, make_alert_rule):
    from tests.helpers import open_socket, receive_until

    cnc, machine, _ = plant
    manager = make_user("shift_manager")
    make_alert_rule(cnc)
    ws, _hello = open_socket(live_server, manager.username, "?resync=alerts:open")
    try:
        feed(machine, (0, {"temperature": 90}))
        [alert] = alerts_of(machine)
        row = receive_until(ws, f'id="alert-{alert.id}-row"')
        badge = receive_until(ws, 'id="badge-alerts"') if 'id="badge-alerts"' not in (
            row or "") else row
    finally:
        ws.close()
    assert row is not None and 'hx-swap-oob="afterbegin:#alert-rows"' in row
    assert alert.message in row
    assert f'hx-post="/alerts/{alert.id}/acknowledge"' in row, "one tap from a live row too"
    assert badge is not None and ">1<" in badge


@pytest.mark.live
def test_alert_page_follows_changes_and_outsiders_get_nothing(live_server, plant, make_user,
                                                              make_alert_rule):
    from app.blueprints.alerts.alert_services import acknowledge_alert
    from tests.helpers import open_socket, receive_until

    cnc, machine, operator = plant
    stranger = make_user("operator")
    make_alert_rule(cnc)
    feed(machine, (0, {"temperature": 90}))
    [alert] = alerts_of(machine)
    page, _ = open_socket(live_server, operator.username, f"?resync=alert:{alert.id}")
    outsider, _ = open_socket(live_server, stranger.username, "?resync=alerts:open")
    try:
        acknowledge_alert(alert, operator)
        db.session.commit()
        state = receive_until(page, "acknowledged by")
        leaked = receive_until(outsider, f"alert-{alert.id}", timeout=1)
    finally:
        page.close()
        outsider.close()
    assert state is not None and f'id="alert-{alert.id}-state" hx-swap-oob="true"' in state
    assert f'id="alert-{alert.id}-history" hx-swap-oob="true"' in state
    assert leaked is None


# --- demo -------------------------------------------------------------------------------

def test_demo_rules_are_idempotent_and_the_overheating_machine_gets_a_task(app):
    from app.blueprints.alerts.demo import seed_demo
    from app.blueprints.machines import fixtures
    from app.blueprints.machines.models import Machine
    from app.demo import PLANT, load_users

    fixtures.load(PLANT.read_text())
    load_users()
    made = seed_demo()
    db.session.commit()
    names = {r.name for r in made}
    assert {"Overheating · CNC Milling", "Vibration high · CNC Milling", "Battery low · AGV",
            "Machine offline"} <= names
    assert seed_demo() == []
    cnc = db.session.scalar(select(Machine).where(Machine.code == "CNC-01"))
    now = datetime.now(UTC)
    ingest([{"ts": (now - timedelta(seconds=s)).isoformat(), "values": {"temperature": 78.5}}
            for s in (25, 15, 0)], "webhook", machine=cnc, now=now)
    db.session.commit()
    [alert] = alerts_of(cnc)
    assert alert.severity == "critical" and "overheating" in alert.message
    [task] = db.session.scalars(select(Task).where(Task.alert_id == alert.id)).all()
    operators = {u.username for u in task.assignees if u.role == "operator"}
    assert "operator1" in operators


def test_the_simulators_overheating_machine_raises_an_alert_within_a_minute(app):
    """The issue's done path, without the processes: the demo plant, the demo rules and the
    simulator's own signal model, polled every 20 s through the real ingest."""
    from app.blueprints.alerts.demo import seed_demo
    from app.blueprints.machines import fixtures
    from app.blueprints.machines.models import Machine
    from app.blueprints.machines.services import machine_operators_of
    from app.demo import PLANT, load_users
    from tests.helpers import demo_specs
    from tools.simulator.signals import Plant

    fixtures.load(PLANT.read_text())
    load_users()
    seed_demo()
    db.session.commit()
    machines = {m.vendor_id: m for m in db.session.scalars(select(Machine))}
    plant = Plant(demo_specs(), seed=7, silent=False, now=T0)
    first_hot, raised = {}, {}
    for step in range(1, 20 * 3):                      # 20 minutes, a poll every 20 s
        now = T0 + timedelta(seconds=20 * step)
        readings = [plant.reading(vid, now) for vid in machines]
        ingest([{"machine": r.vendor_id, "ts": r.ts_text, "values": r.values}
                for r in readings], "poll", now=now)
        db.session.commit()
        for vid, machine in machines.items():
            metric = next((m for m in machine.machine_type.metrics if "temp" in m.key), None)
            if metric and readings_hot(readings, vid, metric):
                first_hot.setdefault(vid, now)
        for alert in db.session.scalars(select(Alert).where(Alert.severity == "critical")):
            raised.setdefault(alert.machine.vendor_id, (alert, now))
    assert first_hot, "the simulator overheated a machine in 20 minutes"
    for vid, since in first_hot.items():
        alert, seen = raised[vid]
        assert seen - since <= timedelta(seconds=60)
        [task] = db.session.scalars(select(Task).where(Task.alert_id == alert.id)).all()
        assert set(machine_operators_of(machines[vid])) <= set(task.assignees)


def readings_hot(readings, vendor_id, metric):
    reading = next(r for r in readings if r.vendor_id == vendor_id)
    value = reading.values.get(metric.key)
    return value is not None and value > metric.normal_max


@pytest.mark.live
def test_a_reconnecting_list_catches_up_without_doubling_rows(live_server, plant, make_user,
                                                              make_alert_rule):
    from urllib.parse import quote

    from tests.helpers import open_socket, receive_until

    cnc, machine, _ = plant
    manager = make_user("shift_manager")
    make_alert_rule(cnc)
    drawn = datetime.now(UTC)
    feed(machine, (0, {"temperature": 90}))
    [alert] = alerts_of(machine)
    ws, _ = open_socket(live_server, manager.username,
                        f"?resync=alerts:open&since={quote(drawn.isoformat())}")
    try:
        caught_up = receive_until(ws, f"alert-{alert.id}-row")
    finally:
        ws.close()
    # The rows come whole, replacing the list's: a row that came live is not doubled.
    assert caught_up is not None
    assert caught_up.lstrip().startswith('<tbody id="alert-rows" hx-swap-oob="true">')
    assert caught_up.count(f'id="alert-{alert.id}-row"') == 1
    assert f'hx-post="/alerts/{alert.id}/acknowledge"' in caught_up
