"""Issue 5: logbook issues linked to where they came from (alert, andon call, task) and
turned into maintenance tasks."""

import pytest
from sqlalchemy import select

from app.blueprints.logbook.models import Issue
from app.blueprints.tasks import services as tasks
from app.core.extensions import db
from tests.helpers import redirect_path, text_of

FORM = {"category": "mechanical", "description": "Belt squeals", "priority": "medium",
        "runnable": "yes"}


@pytest.fixture
def floor(make_user, make_line, make_machine, make_task):
    operator = make_user("operator")
    line = make_line(operators=[operator])
    machine = make_machine(code="LNK-1", line=line)
    other = make_machine(code="LNK-2", line=line)
    hidden = make_machine(code="HID-1")
    task = make_task(machine, "Change the belt")
    hidden_task = make_task(hidden, "Somewhere else")
    return {"operator": operator, "machine": machine, "other": other, "task": task,
            "hidden_task": hidden_task, "manager": make_user("shift_manager"),
            "maintenance": make_user("maintenance")}


def _login(browser, user):
    assert browser.login(user.username, "correct horse battery").status_code == 302


def _latest_issue():
    return db.session.scalar(select(Issue).order_by(Issue.id.desc()).limit(1))


def test_report_from_a_task_keeps_the_link_and_shows_where_it_came_from(browser, floor):
    task, machine = floor["task"], floor["machine"]
    _login(browser, floor["operator"])
    form = browser.get(f"/logbook/new?machine={machine.id}&source=task&ref={task.id}")
    html = text_of(form)
    assert f"About Task #{task.id}" in html
    assert 'name="source" type="hidden" value="task"' in html
    response = browser.post("/logbook/new", {**FORM, "machine_id": machine.id,
                                             "source": "task", "ref": task.id})
    assert response.status_code == 302
    issue = _latest_issue()
    assert (issue.source, issue.source_ref) == ("task", str(task.id))
    page = text_of(browser.get(redirect_path(response)))
    assert "Came from" in page
    assert f'<a href="/tasks/{task.id}">Task #{task.id}</a>' in page


def test_quick_report_from_a_task(browser, floor):
    task, machine = floor["task"], floor["machine"]
    _login(browser, floor["operator"])
    url = f"/logbook/report/{machine.code}?source=task&ref={task.id}"
    assert f"About Task #{task.id}" in text_of(browser.get(url))
    response = browser.post(f"/logbook/report/{machine.code}",
                            {**FORM, "source": "task", "ref": task.id})
    assert response.status_code == 302
    assert _latest_issue().source == "task"


def test_a_ref_on_another_machine_is_left_off_with_a_message(browser, floor):
    task = floor["task"]
    _login(browser, floor["operator"])
    response = browser.post("/logbook/new", {**FORM, "machine_id": floor["other"].id,
                                             "source": "task", "ref": task.id},
                            follow_redirects=True)
    assert response.status_code == 200
    assert f"Task #{task.id} is on LNK-1, not LNK-2" in text_of(response)
    issue = _latest_issue()
    assert issue.machine_id == floor["other"].id
    assert (issue.source, issue.source_ref) == ("manual", None)


def test_a_missing_or_hidden_ref_is_refused_but_the_issue_is_reportable(browser, floor):
    machine = floor["machine"]
    _login(browser, floor["operator"])
    page = text_of(browser.get(f"/logbook/new?machine={machine.id}&source=task&ref=999999"))
    assert "Task #999999 does not exist" in page
    assert 'name="ref" type="hidden" value=""' in page
    hidden = floor["hidden_task"]
    page = text_of(browser.get(f"/logbook/report/{machine.code}?source=task&ref={hidden.id}"))
    assert "on a machine you do not work on" in page
    response = browser.post(f"/logbook/report/{machine.code}",
                            {**FORM, "source": "task", "ref": hidden.id},
                            follow_redirects=True)
    assert "on a machine you do not work on" in text_of(response)
    issue = _latest_issue()
    assert issue.source == "quick" and issue.source_ref == f"qr:{machine.code}"
    page = text_of(browser.get(f"/logbook/new?machine={machine.id}&source=nonsense&ref=1"))
    assert "is not something an issue can come from" in page


def test_came_from_an_alert_shows_plain_text_or_a_link(browser, floor, make_alert_rule,
                                                      make_alert, make_task):
    from app.blueprints.logbook import services as logbook

    machine = floor["machine"]
    alert = make_alert(make_alert_rule(machine=machine, name="Hot", threshold="80"))
    issue = logbook.report_issue(floor["operator"], machine, "mechanical", "Hot spindle",
                                 source="alert", source_ref=str(alert.id))
    task = make_task(machine, "Cool it", source="alert", alert=alert)
    _login(browser, floor["manager"])
    page = text_of(browser.get(f"/logbook/issues/{issue.id}"))
    assert f'href="/alerts/{alert.id}"' in page
    assert f'href="/alerts/{alert.id}"' in text_of(browser.get(f"/tasks/{task.id}"))
    # Maintenance works on the issue and the task but may not open alerts: the origin is
    # named, not linked to a page that would answer 403.
    browser.logout()
    _login(browser, floor["maintenance"])
    assert browser.get(f"/alerts/{alert.id}").status_code == 403
    page = text_of(browser.get(f"/logbook/issues/{issue.id}"))
    assert f"Alert #{alert.id}" in page and f'href="/alerts/{alert.id}"' not in page
    task_page = text_of(browser.get(f"/tasks/{task.id}"))
    assert f"Alert #{alert.id}" in task_page and f'href="/alerts/{alert.id}"' not in task_page


def test_issue_page_lists_its_tasks_and_the_task_names_its_issue(browser, floor):
    from app.blueprints.logbook import services as logbook

    issue = logbook.report_issue(floor["operator"], floor["machine"], "mechanical",
                                 "Coolant leak under the table")
    db.session.commit()
    task, made = tasks.task_from_issue(floor["manager"], issue)
    db.session.commit()
    assert made and task.source == "issue"
    _login(browser, floor["operator"])
    issue_page = text_of(browser.get(f"/logbook/issues/{issue.id}"))
    assert f'<a href="/tasks/{task.id}">Task #{task.id}</a>' in issue_page
    # An operator is not a logbook worker: no button for them.
    assert "Turn into maintenance task" not in issue_page
    task_page = text_of(browser.get(f"/tasks/{task.id}"))
    assert "Logbook issue" in task_page and f"#{issue.id} {issue.title}" in task_page
