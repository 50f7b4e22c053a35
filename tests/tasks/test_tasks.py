"""Maintenance tasks: every source, the status workflow and its history, who may do what,
the lists, notifications, and plans by calendar, running hours and parts fed as readings."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.blueprints.machines import services as machine_services
from app.blueprints.machines.models import Metric
from app.blueprints.notifications.models import Notification
from app.blueprints.tasks import plans, services
from app.blueprints.tasks.models import MaintenancePlan, Task, TaskEvent
from app.blueprints.telemetry.ingest import ingest
from app.core.extensions import db
from tests.helpers import redirect_path, text_of

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def _ts(minutes):
    return (T0 + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def people(make_user, make_line, make_machine):
    """A machine on a line with its operator, a manager, maintenance, and an outsider."""
    manager = make_user("shift_manager")
    maintenance = make_user("maintenance")
    operator = make_user("operator")
    outsider = make_user("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="CNC-T1", line=line)
    return {"manager": manager, "maintenance": maintenance, "operator": operator,
            "outsider": outsider, "machine": machine, "line": line}


@pytest.fixture
def metered_machine(make_machine_type, make_machine):
    """A machine whose type has a running flag and a part counter."""
    machine_type = make_machine_type(metrics=(("temperature", "Temperature", "°C", 20, 70),))
    machine_services.save_metric(machine_type, Metric(), "running", "Running", "", "boolean",
                                 None, None, "running")
    machine_services.save_metric(machine_type, Metric(), "parts", "Parts", "", "number",
                                 None, None, "part_counter")
    db.session.commit()
    return make_machine(code="PRS-M1", machine_type=machine_type)


def _notifications(user, kind):
    return db.session.scalars(select(Notification).where(
        Notification.user_id == user.id, Notification.kind == kind)).all()


# --- making tasks ------------------------------------------------------------------------

def test_manual_task_from_the_form_goes_to_the_machines_people(browser, people):
    browser.login(people["maintenance"].username, "correct horse battery")
    response = browser.post("/tasks/new", {"machine_id": people["machine"].id,
                                           "title": "Replace the spindle belt",
                                           "description": "It squeals", "priority": "high"})
    assert response.status_code == 302
    task = db.session.scalar(select(Task).where(Task.title == "Replace the spindle belt"))
    assert redirect_path(response) == f"/tasks/{task.id}"
    assert task.source == "manual" and task.priority == "high"
    assert task.created_by_id == people["maintenance"].id
    ids = {u.id for u in task.assignees}
    assert {people["manager"].id, people["maintenance"].id, people["operator"].id} <= ids
    assert people["outsider"].id not in ids
    assert [(e.kind, e.actor_id) for e in task.events] == [("created",
                                                            people["maintenance"].id)]
    # Assignees are told; the one who made it is not.
    assert len(_notifications(people["operator"], "task_assigned")) == 1
    assert _notifications(people["maintenance"], "task_assigned") == []
    page = text_of(browser.get(f"/tasks/{task.id}"))
    assert "Replace the spindle belt" in page and "Timeline" in page
    assert f"/logbook/new?machine={people['machine'].id}&amp;source=task&amp;ref={task.id}" \
        in page


def test_task_form_with_chosen_assignees_and_bad_input(browser, people):
    browser.login(people["manager"].username, "correct horse battery")
    before = db.session.scalar(select(func.count()).select_from(Task))
    response = browser.post("/tasks/new", {"machine_id": people["machine"].id, "title": " ",
                                           "priority": "medium"})
    assert response.status_code == 422
    assert "Give the task a title." in text_of(response)
    response = browser.post("/tasks/new", {"machine_id": people["machine"].id,
                                           "title": "Belt", "priority": "medium",
                                           "assignees": [people["outsider"].id]})
    assert response.status_code == 422
    assert "cannot work on this machine" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Task)) == before
    response = browser.post("/tasks/new", {"machine_id": people["machine"].id,
                                           "title": "Belt", "priority": "medium",
                                           "due_at": "2026-12-01T10:00",
                                           "assignees": [people["operator"].id]})
    assert response.status_code == 302
    task = db.session.scalar(select(Task).where(Task.title == "Belt"))
    assert [u.id for u in task.assignees] == [people["operator"].id]
    assert task.due_at == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_assignee_checkboxes_follow_the_chosen_machine(browser, people):
    browser.login(people["manager"].username, "correct horse battery")
    part = text_of(browser.get(f"/tasks/new?part=assignees&machine_id={people['machine'].id}",
                               headers={"HX-Request": "true"}))
    assert people["operator"].display_name in part
    assert people["outsider"].display_name not in part


def test_tasks_from_a_rule_and_an_alert(people, make_user, make_task, make_alert_rule,
                                        make_alert):

    machine = people["machine"]
    rule = make_alert_rule(machine=machine, name="Too hot", threshold="80",
                           severity="critical", create_task=True)
    alert = make_alert(rule, message="CNC-T1 too hot")
    by_rule = make_task(machine, title="Cool it down", source="rule", priority="critical",
                        alert=alert)
    by_alert = make_task(machine, title="Look at the alert", source="alert", alert=alert)
    assert by_rule.source_label == "Alert rule" and by_rule.alert_id == alert.id
    assert by_alert.source == "alert"
    # Critical without a date is due within hours, not days.
    assert by_rule.due_at - by_rule.created_at <= timedelta(hours=4, seconds=5)
    with pytest.raises(Exception, match="Unknown task source"):
        services.create_task(machine, "x", source="magic")


def test_default_assignees_are_managers_maintenance_and_the_machines_operators(people):
    ids = {u.id for u in services.default_assignees(people["machine"])}
    assert {people["manager"].id, people["maintenance"].id, people["operator"].id} <= ids
    assert people["outsider"].id not in ids


# --- the workflow ------------------------------------------------------------------------

def test_status_workflow_with_history_and_notifications(browser, people, make_task):
    task = make_task(people["machine"], actor=people["manager"])
    browser.login(people["operator"].username, "correct horse battery")
    jump = browser.post(f"/tasks/{task.id}/status", {"status": "finished"})
    assert jump.status_code == 422
    assert "cannot go straight to Finished" in text_of(jump)
    db.session.refresh(task)
    assert task.status == "not_started" and len(task.events) == 1
    assert browser.post(f"/tasks/{task.id}/status", {"status": "in_progress"}).status_code \
        == 302
    assert browser.post(f"/tasks/{task.id}/status", {"status": "finished"}).status_code == 302
    db.session.refresh(task)
    assert task.status == "finished" and task.started_at and task.finished_at
    steps = [(e.kind, e.from_status, e.to_status, e.actor_id) for e in task.events]
    assert steps[1:] == [("status", "not_started", "in_progress", people["operator"].id),
                         ("status", "in_progress", "finished", people["operator"].id)]
    assert all(e.at is not None for e in task.events)
    # The creator and the other assignees hear about it; the one who acted does not.
    assert len(_notifications(people["manager"], "task_status")) == 2
    assert _notifications(people["operator"], "task_status") == []
    page = text_of(browser.get(f"/tasks/{task.id}"))
    assert "Not started → In progress" in page and people["operator"].display_name in page


def test_an_operator_not_assigned_gets_403_and_nothing_changes(browser, people, make_user,
                                                               make_task):
    task = make_task(people["machine"], assignees=[people["manager"]])
    browser.login(people["operator"].username, "correct horse battery")
    assert browser.get(f"/tasks/{task.id}").status_code == 200   # may see it
    response = browser.post(f"/tasks/{task.id}/status", {"status": "in_progress"})
    assert response.status_code == 403
    db.session.refresh(task)
    assert task.status == "not_started" and len(task.events) == 1
    # An operator of another machine may not even see it.
    browser.logout()
    browser.login(people["outsider"].username, "correct horse battery")
    assert browser.get(f"/tasks/{task.id}").status_code == 403


def test_one_tap_on_a_card_swaps_the_card(browser, people, make_task):
    task = make_task(people["machine"])
    browser.login(people["operator"].username, "correct horse battery")
    response = browser.post(f"/tasks/{task.id}/status", {"status": "in_progress", "card": "1"},
                            headers={"HX-Request": "true"})
    html = text_of(response)
    assert response.status_code == 200
    assert html.lstrip().startswith("<article") and f'id="task-{task.id}"' in html
    assert "In progress" in html and 'value="finished"' in html


def test_edit_records_assignment_and_due_date_changes(browser, people, make_task):
    task = make_task(people["machine"], assignees=[people["manager"]])
    browser.login(people["manager"].username, "correct horse battery")
    response = browser.post(f"/tasks/{task.id}/edit", {
        "title": task.title, "description": "", "priority": "high",
        "due_at": "2026-12-24T12:00", "assignees": [people["operator"].id]})
    assert response.status_code == 302
    db.session.refresh(task)
    kinds = [e.kind for e in task.events]
    assert {"assigned", "unassigned", "due_date", "edited"} <= set(kinds)
    assert [u.id for u in task.assignees] == [people["operator"].id]
    assert len(_notifications(people["operator"], "task_assigned")) == 1
    bad = browser.post(f"/tasks/{task.id}/edit", {"title": "", "priority": "high",
                                                  "due_at": "2026-12-24T12:00"})
    assert bad.status_code == 422 and "Give the task a title." in text_of(bad)


# --- lists -------------------------------------------------------------------------------

def test_my_tasks_lists_open_tasks_assigned_to_me_overdue_first(browser, people, make_task):
    op = people["operator"]
    later = make_task(people["machine"], title="Later one", assignees=[op],
                      due_at=datetime.now(UTC) + timedelta(days=2))
    late = make_task(people["machine"], title="Late one", assignees=[op],
                     due_at=datetime.now(UTC) - timedelta(hours=1))
    make_task(people["machine"], title="Not mine", assignees=[people["manager"]])
    done = make_task(people["machine"], title="Done one", assignees=[op])
    services.change_status(op, done, "in_progress")
    services.change_status(op, done, "finished")
    db.session.commit()
    assert [t.id for t in services.my_open_tasks(op)] == [late.id, later.id]
    assert services.my_open_count(op) == 2
    browser.login(op.username, "correct horse battery")
    # The Tasks menu lands an operator on their own tasks.
    assert redirect_path(browser.get("/tasks/")) == "/tasks/mine"
    page = text_of(browser.get("/tasks/mine"))
    assert 'href="/tasks/?view=list"' in page
    assert page.index("Late one") < page.index("Later one")
    assert "Not mine" not in page and "Done one" not in page and "Overdue" in page


def test_filters_in_the_url(browser, people, make_machine, make_task):
    other = make_machine(code="OTH-1")
    a = make_task(people["machine"], title="Alpha", priority="high",
                  assignees=[people["manager"]])
    b = make_task(other, title="Bravo", source="rule", assignees=[])
    c = make_task(people["machine"], title="Charlie", assignees=[people["operator"]],
                  due_at=datetime.now(UTC) - timedelta(days=1))
    browser.login(people["manager"].username, "correct horse battery")

    def titles(query):
        html = text_of(browser.get("/tasks/?" + query))
        return {t.title for t in (a, b, c) if f">#{t.id} {t.title}<" in html}

    assert titles("") == {"Alpha", "Bravo", "Charlie"}
    assert titles(f"machine={other.id}") == {"Bravo"}
    assert titles(f"line={people['line'].id}") == {"Alpha", "Charlie"}
    assert titles("assignee=me") == {"Alpha"}
    assert titles("assignee=nobody") == {"Bravo"}
    assert titles(f"assignee={people['operator'].id}") == {"Charlie"}
    assert titles("priority=high") == {"Alpha"}
    assert titles("source=rule") == {"Bravo"}
    assert titles("overdue=1") == {"Charlie"}
    assert titles("status=finished") == set()
    board = text_of(browser.get("/tasks/?view=board"))
    assert "Not started" in board and "Finished this week" in board
    # An operator sees only the tasks of machines they may see.
    browser.logout()
    browser.login(people["operator"].username, "correct horse battery")
    assert titles("view=list") == {"Alpha", "Charlie"}


def test_badge_counts_my_open_tasks(people, make_task):
    make_task(people["machine"], assignees=[people["operator"]])
    make_task(people["machine"], assignees=[people["operator"], people["manager"]])
    from app.core.badges import COUNTERS

    assert COUNTERS["tasks"](people["operator"]) == 2
    assert COUNTERS["tasks"](people["outsider"]) == 0


# --- from a logbook issue ----------------------------------------------------------------

def test_issue_button_makes_one_task_and_links_both_ways(browser, people, make_issue):
    issue = make_issue(people["machine"], people["operator"], category="mechanical",
                       description="Belt squeals loudly", priority="high")
    browser.login(people["maintenance"].username, "correct horse battery")
    assert "Turn into maintenance task" in text_of(browser.get(f"/logbook/issues/{issue.id}"))
    response = browser.post(f"/tasks/from-issue/{issue.id}")
    task = db.session.scalar(select(Task).where(Task.issue_id == issue.id))
    assert redirect_path(response) == f"/tasks/{task.id}"
    assert task.source == "issue" and task.priority == "high"
    assert task.title == issue.title and "Belt squeals loudly" in task.description
    again = browser.post(f"/tasks/from-issue/{issue.id}", follow_redirects=True)
    assert f"already has an open task: #{task.id}" in text_of(again)
    assert db.session.scalar(select(func.count()).select_from(Task).where(
        Task.issue_id == issue.id)) == 1
    issue_page = text_of(browser.get(f"/logbook/issues/{issue.id}"))
    assert f'href="/tasks/{task.id}"' in issue_page
    task_page = text_of(browser.get(f"/tasks/{task.id}"))
    assert f'href="/logbook/issues/{issue.id}"' in task_page


def test_issue_button_refused_for_a_closed_issue_and_for_operators(browser, people, make_issue):
    from app.blueprints.logbook import services as logbook

    issue = make_issue(people["machine"], people["operator"], category="mechanical",
                       description="Belt squeals loudly", priority="high")
    browser.login(people["operator"].username, "correct horse battery")
    assert browser.post(f"/tasks/from-issue/{issue.id}").status_code == 403
    browser.logout()
    logbook.change_status(people["manager"], issue, "closed")
    db.session.commit()
    browser.login(people["manager"].username, "correct horse battery")
    response = browser.post(f"/tasks/from-issue/{issue.id}", follow_redirects=True)
    assert "is closed; reopen it" in text_of(response)
    assert db.session.scalar(select(func.count()).select_from(Task).where(
        Task.issue_id == issue.id)) == 0


# --- plans -------------------------------------------------------------------------------

def test_calendar_plan_makes_one_task_when_due(people, make_plan):
    plan = make_plan(people["machine"], people["manager"], days=30)
    start = plan.counted_since
    assert plans.make_due_tasks(start + timedelta(days=29, hours=23)) == []
    made = plans.make_due_tasks(start + timedelta(days=30, minutes=1))
    db.session.commit()
    assert len(made) == 1
    task = made[0]
    assert task.source == "plan" and task.plan_id == plan.id
    assert task.due_at == start + timedelta(days=30, minutes=1) + timedelta(days=2)
    assert "30 / 30 days" in task.description or "days" in task.description
    # Never a second while that one is open.
    assert plans.make_due_tasks(start + timedelta(days=45)) == []


def test_finishing_a_plan_task_resets_its_counters(people, metered_machine, make_user, make_plan):
    manager = people["manager"]
    plan = make_plan(metered_machine, manager, days=7, parts=100)
    plan.parts, plan.running_seconds = 150, 5000
    db.session.commit()
    task = plans.make_due_tasks(datetime.now(UTC))[0]
    services.change_status(manager, task, "in_progress")
    db.session.commit()
    before = datetime.now(UTC)
    services.change_status(manager, task, "finished")
    db.session.commit()
    db.session.refresh(plan)
    assert plan.parts == 0 and plan.running_seconds == 0
    assert plan.counted_since >= before
    assert any(e.kind == "plan" for e in task.events)
    assert plans.make_due_tasks(datetime.now(UTC)) == []


def test_running_hours_counted_from_readings_with_a_capped_gap(people, metered_machine, make_plan):
    plan = make_plan(metered_machine, people["manager"], hours=1)
    feed = [{"ts": _ts(m), "values": {"running": True, "temperature": 40}}
            for m in range(0, 55, 5)]            # 0..50 min running: 50 minutes
    ingest(feed, "poll", machine=metered_machine, now=T0 + timedelta(minutes=51))
    db.session.commit()
    db.session.refresh(plan)
    assert plan.running_seconds == 50 * 60
    assert db.session.scalar(select(Task).where(Task.plan_id == plan.id)) is None
    # Three hours of silence count as ten minutes at most: 60 minutes, the limit.
    ingest([{"ts": _ts(230), "values": {"running": False, "temperature": 40}}], "poll",
           machine=metered_machine, now=T0 + timedelta(minutes=231))
    db.session.commit()
    db.session.refresh(plan)
    assert plan.running_seconds == 60 * 60
    task = db.session.scalar(select(Task).where(Task.plan_id == plan.id))
    assert task is not None, "the listener makes the task as the meter crosses its limit"
    assert "1 / 1 running hours" in task.description
    # Stopped time does not count; an unchanged reading still moves time on.
    ingest([{"ts": _ts(240), "values": {"running": False, "temperature": 40}}], "poll",
           machine=metered_machine, now=T0 + timedelta(minutes=241))
    db.session.commit()
    db.session.refresh(plan)
    assert plan.running_seconds == 60 * 60
    assert plans.meters(plan)[0].text == "1 / 1 running hours"


def test_parts_counted_with_a_counter_reset(people, metered_machine, make_plan):
    plan = make_plan(metered_machine, people["manager"], parts=100)

    def feed(minute, count):
        ingest([{"ts": _ts(minute), "values": {"parts": count}}], "poll",
               machine=metered_machine, now=T0 + timedelta(minutes=minute + 1))
        db.session.commit()
        db.session.refresh(plan)

    feed(0, 1000)          # the first reading is the baseline
    feed(1, 1040)
    assert plan.parts == 40
    feed(2, 5)             # reset: count on from the new value
    feed(3, 45)
    assert plan.parts == 80
    assert db.session.scalar(select(Task).where(Task.plan_id == plan.id)) is None
    feed(4, 70)
    assert plan.parts == 105
    task = db.session.scalar(select(Task).where(Task.plan_id == plan.id))
    assert task is not None and task.source == "plan"
    # A duplicate delivery changes nothing.
    feed(4, 70)
    assert plan.parts == 105


def test_meters_cost_a_fixed_number_of_statements_per_batch(people, metered_machine, make_plan,
                                                            count_queries):

    make_plan(metered_machine, people["manager"], hours=100, parts=10_000)
    ingest([{"ts": _ts(0), "values": {"running": True, "parts": 1}}], "poll",
           machine=metered_machine, now=T0 + timedelta(minutes=1))
    db.session.commit()

    start = iter(range(1, 10_000, 100))

    def count(n):
        first = next(start)
        with count_queries() as statements:
            ingest([{"ts": _ts(first + i), "values": {"running": True, "parts": first + i}}
                    for i in range(n)], "poll", machine=metered_machine,
                   now=T0 + timedelta(minutes=first + n))
            db.session.flush()
        return len(statements)

    count(2)  # the first batch loads what later ones find in the session
    assert count(40) == count(3)


def test_plan_validation_messages(browser, people, make_machine):
    plain = make_machine(code="PLAIN-1")
    browser.login(people["manager"].username, "correct horse battery")
    base = {"machine_id": plain.id, "title": "Oil", "priority": "medium",
            "days_to_finish": "3"}
    cases = [
        ({}, "Give at least one interval"),
        ({"every_days": "-2"}, "must be more than 0"),
        ({"every_days": "ten"}, "must be a whole number"),
        ({"every_running_hours": "8"}, "cannot count running hours"),
        ({"every_parts": "500"}, "cannot count parts"),
        ({"every_days": "5", "days_to_finish": ""}, "how many days the work may take"),
    ]
    for extra, message in cases:
        response = browser.post("/tasks/plans/new", {**base, **extra})
        assert response.status_code == 422, extra
        assert message in text_of(response), extra
    assert db.session.scalar(select(func.count()).select_from(MaintenancePlan)) == 0
    ok = browser.post("/tasks/plans/new", {**base, "every_days": "30"})
    assert ok.status_code == 302
    page = text_of(browser.get("/tasks/plans"))
    assert "Oil" in page and "0 / 30 days" in page and "Next due by calendar" in page


def test_plan_list_shows_meter_progress_and_switching_off_asks_first(browser, people,
                                                                     metered_machine, make_plan):
    plan = make_plan(metered_machine, people["manager"], hours=8, parts=5000)
    plan.running_seconds = 6.5 * 3600
    plan.parts = 1200
    db.session.commit()
    browser.login(people["manager"].username, "correct horse battery")
    page = text_of(browser.get("/tasks/plans"))
    assert "6.5 / 8 running hours" in page and "1,200 / 5,000 parts" in page
    confirm = browser.get(f"/tasks/plans/{plan.id}/deactivate")
    assert confirm.status_code == 200 and "Switch off" in text_of(confirm)
    db.session.refresh(plan)
    assert plan.active
    assert browser.post(f"/tasks/plans/{plan.id}/deactivate").status_code == 302
    db.session.refresh(plan)
    assert not plan.active
    assert browser.post(f"/tasks/plans/{plan.id}/reactivate").status_code == 302
    db.session.refresh(plan)
    assert plan.active and plan.parts == 0


def test_machine_partial_shows_open_tasks_and_plans(app, people, metered_machine, make_task,
                                                    make_plan):
    from flask_login import current_user, login_user

    from app.blueprints.tasks.panels import machine_tasks

    plan = make_plan(metered_machine, people["manager"], parts=100)
    plan.parts = 40
    task = make_task(metered_machine, title="Swap the die")
    with app.test_request_context("/"):
        login_user(people["manager"])
        html = machine_tasks(metered_machine, current_user)
    assert f"#{task.id} Swap the die" in html and "40 / 100 parts" in html


def test_the_job_makes_due_tasks(people, make_plan):
    from app.jobs.maintenance import make_due_maintenance_tasks

    plan = make_plan(people["machine"], people["manager"], days=1)
    plan.counted_since = datetime.now(UTC) - timedelta(days=2)
    db.session.commit()
    assert make_due_maintenance_tasks() == 1
    assert db.session.scalar(select(Task).where(Task.plan_id == plan.id)) is not None


def test_demo_seed_is_idempotent(make_user, make_machine, metered_machine):
    from app.blueprints.tasks.demo import seed_demo

    make_user("admin")
    for code in ("CNC-01", "STP-01", "WLD-01"):
        make_machine(code=code, machine_type=metered_machine.machine_type)
    assert len(seed_demo()) == 3
    db.session.commit()
    assert seed_demo() == []
    hours = db.session.scalar(select(MaintenancePlan).where(
        MaintenancePlan.every_running_hours == 8))
    assert hours.machine.code == "CNC-01"


def test_history_entries_name_who_and_when(people, make_task):
    task = make_task(people["machine"], actor=people["manager"])
    services.change_status(people["manager"], task, "in_progress",
                           now=datetime(2026, 11, 3, 9, 30, tzinfo=UTC))
    db.session.commit()
    event = db.session.scalar(select(TaskEvent).where(TaskEvent.task_id == task.id,
                                                      TaskEvent.kind == "status"))
    assert event.actor_id == people["manager"].id
    assert event.at == datetime(2026, 11, 3, 9, 30, tzinfo=UTC)
    assert task.started_at == datetime(2026, 11, 3, 9, 30, tzinfo=UTC)


def test_an_assignee_who_left_the_machine_does_not_block_editing(browser, people, make_task):
    from app.blueprints.machines.models import Line

    operator = people["operator"]
    task = make_task(people["machine"], assignees=[operator, people["manager"]])
    line = db.session.get(Line, people["line"].id)
    machine_services.save_line(line, line.code, line.name, operators=[])
    db.session.commit()
    browser.login(people["manager"].username, "correct horse battery")
    edit_page = text_of(browser.get(f"/tasks/{task.id}/edit"))
    assert operator.display_name in edit_page
    response = browser.post(f"/tasks/{task.id}/edit", {
        "title": "Check the belt twice", "description": "", "priority": "medium",
        "due_at": "2026-12-24T12:00", "assignees": [operator.id, people["manager"].id]})
    assert response.status_code == 302
    db.session.refresh(task)
    assert task.title == "Check the belt twice"
    assert {u.id for u in task.assignees} == {operator.id, people["manager"].id}


def test_operator_home_offers_andon_my_tasks_and_reporting(logged_in, make_line, make_machine,
                                                          make_task):
    browser, operator = logged_in("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="HOME-1", line=line)
    make_task(machine, "Wipe the guards", assignees=[operator])
    html = text_of(browser.get("/"))
    assert f'href="/andon/line/{line.id}"' in html      # one line: straight to its screen
    assert 'href="/tasks/mine">My tasks (1)</a>' in html
    assert 'href="/logbook/new"' in html


def test_a_full_board_column_says_so_and_links_to_the_list(logged_in, make_machine):
    browser, _ = logged_in("shift_manager")
    machine = make_machine(code="FULL-1")
    db.session.add_all([Task(machine=machine, title=f"Check {n}")
                        for n in range(services.BOARD_LIMIT + 1)])
    db.session.commit()
    html = text_of(browser.get("/tasks/?view=board"))
    assert f"({services.BOARD_LIMIT}+)" in html
    assert f"Showing the first {services.BOARD_LIMIT}." in html
    assert "/tasks/?view=list&amp;status=not_started" in html
