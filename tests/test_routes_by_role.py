"""Every route registered on the app, visited as every role: allowed or forbidden as listed.

A new route must be added to ROUTES, or test_every_route_is_listed fails.
"""

import pytest

from app.blueprints.alerts.access import ALERT_READERS
from app.blueprints.andon.access import ANSWERERS as ANDON_ANSWERERS
from app.blueprints.andon.access import RAISERS as ANDON_RAISERS
from app.blueprints.auth import roles
from app.blueprints.logbook.access import REPORTERS, WORKERS
from app.blueprints.tasks.services import CREATORS as TASK_CREATORS

ALL = frozenset(roles.ROLES)
MANAGERS = frozenset(roles.MANAGERS)
PLANT = frozenset(roles.PLANT_WIDE)
PUBLIC = "public"      # anyone, logged in or not
SOCKET = "socket"      # the /ws route, tested over a real socket in test_live.py

# endpoint → who may use it. Anonymous visitors are sent to the login page for all but PUBLIC.
ROUTES = {
    "static": PUBLIC,
    "ops.health": PUBLIC,
    "auth.login": PUBLIC,
    "api.ingest": PUBLIC,  # machines sign each request instead of logging in
    "auth.logout": ALL,
    "live": SOCKET,
    "dashboard.home": ALL,
    "auth.first_password": ALL,
    "auth.first_profile": ALL,
    "auth.profile": ALL,
    "auth.change_password": ALL,
    "auth.users": MANAGERS,
    "auth.new_user": MANAGERS,
    "auth.show_user": MANAGERS,
    "auth.edit_assignments": MANAGERS,
    "auth.deactivate_user": MANAGERS,
    "auth.reactivate_user": MANAGERS,
    "auth.reset_password": MANAGERS,
    "machines.index": ALL,
    "machines.show": ALL,
    "machines.new": MANAGERS,
    "machines.edit": MANAGERS,
    "machines.rotate_secret": MANAGERS,
    "machines.subscribe": MANAGERS,
    "machines.unsubscribe": MANAGERS,
    "machines.moved_history": ALL,  # old chart/readings URLs redirect to /telemetry
    "telemetry.history": ALL,
    "telemetry.readings": ALL,
    "telemetry.readings_csv": ALL,
    "machines.types": PLANT,
    "machines.show_type": PLANT,
    "machines.new_type": MANAGERS,
    "machines.edit_type": MANAGERS,
    "machines.delete_type": MANAGERS,
    "machines.new_metric": MANAGERS,
    "machines.edit_metric": MANAGERS,
    "machines.delete_metric": MANAGERS,
    "machines.departments": PLANT,
    "machines.new_department": MANAGERS,
    "machines.edit_department": MANAGERS,
    "machines.lines": PLANT,
    "machines.new_line": MANAGERS,
    "machines.edit_line": MANAGERS,
    # logbook attachments (the world's operator may see the issue; it is not theirs)
    "logbook.attachments": ALL,
    "logbook.upload_attachment": frozenset(REPORTERS),
    "logbook.attachment_file": ALL,
    "logbook.attachment_thumbnail": ALL,
    "logbook.read_attachment_again": frozenset(WORKERS),
    "logbook.delete_attachment": frozenset(WORKERS),
    # logbook issues: the world's issue is on the operator's line, reported by someone else
    "logbook.index": ALL,
    "logbook.issues_csv": ALL,
    "logbook.show": ALL,
    "logbook.new": frozenset(REPORTERS),
    "logbook.report": frozenset(REPORTERS),
    "logbook.edit": frozenset(WORKERS),
    "logbook.change_status": frozenset(WORKERS),
    "logbook.set_runnable": frozenset(WORKERS),
    "logbook.assign": frozenset(WORKERS),
    "logbook.add_remedy": frozenset(WORKERS),
    "logbook.labels": MANAGERS,
    # logbook metrics (operators see their machines' numbers) and the AI panel's "try again"
    "logbook.metrics": ALL,
    "logbook.retry_ai": frozenset(WORKERS),
    # notifications: everyone has their own
    "notifications.index": ALL,
    "notifications.open_one": ALL,
    "notifications.mark_read": ALL,
    "notifications.mark_all_read": ALL,
    # alerts: rules and alerts (the world's alert is on the target operator's line)
    "alerts.index": ALERT_READERS,
    "alerts.show": ALERT_READERS,
    "alerts.acknowledge": ALERT_READERS,
    "alerts.comment": ALERT_READERS,
    "alerts.close": MANAGERS,
    "alerts.rules": ALERT_READERS,
    "alerts.new_rule": MANAGERS,
    "alerts.edit_rule": MANAGERS,
    "alerts.rule_metrics": MANAGERS,
    "alerts.toggle_rule": MANAGERS,
    "alerts.delete_rule": MANAGERS,
    # andon: calls and escalation (the world's call is a stoppage on the target's line)
    "andon.index": ALL,
    "andon.machine": ANDON_RAISERS,
    "andon.raise_call": ANDON_RAISERS,
    "andon.line": ALL,
    "andon.call": ALL,
    "andon.photo": ALL,
    "andon.acknowledge": ANDON_ANSWERERS,
    "andon.resolve": ANDON_ANSWERERS,
    "andon.ladder": MANAGERS,
    "andon.install_ladder": MANAGERS,
    "andon.new_level": MANAGERS,
    "andon.edit_level": MANAGERS,
    "andon.delete_level": MANAGERS,
    # tasks: tasks and maintenance plans (the world's task is on the target's line, assigned
    # to nobody, so only managers change its status)
    "tasks.index": ALL,
    "tasks.mine": ALL,
    "tasks.show": ALL,
    "tasks.new": frozenset(TASK_CREATORS),
    "tasks.edit": frozenset(TASK_CREATORS),
    "tasks.change_status": MANAGERS,
    "tasks.from_issue": frozenset(WORKERS),
    "tasks.from_alert": MANAGERS,
    "tasks.plans_index": PLANT,
    "tasks.new_plan": MANAGERS,
    "tasks.edit_plan": MANAGERS,
    "tasks.deactivate_plan": MANAGERS,
    "tasks.reactivate_plan": MANAGERS,
}


def test_every_route_is_listed(app):
    registered = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert registered - ROUTES.keys() == set(), "add these routes to ROUTES"
    assert ROUTES.keys() - registered == set(), "these listed routes no longer exist"


@pytest.fixture
def world(make_user, make_machine, make_machine_type, make_line):
    """One of everything a URL can point at; the target user is an operator."""
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Department
    from app.core.extensions import db

    machine_type = make_machine_type()
    line = make_line()
    department = services.save_department(Department(), "DEP", "Department")
    target = make_user("operator")
    machine = make_machine(machine_type=machine_type, line=line)
    issue, attachment = _issue_with_photo(machine, make_user("maintenance"))
    notification = _notification(target)
    db.session.commit()
    return {"machine_id": machine.id, "type_id": machine_type.id,
            "metric_id": machine_type.metrics[0].id, "line_id": line.id,
            "department_id": department.id, "user_id": target.id,
            "issue_id": issue.id, "attachment_id": attachment.id,
            "machine_code": machine.code, "notification_id": notification.id,
            **_alerts_world(machine, machine_type), **_andon_world(machine),
            **_tasks_world(machine),
            "filename": "css/app.css", "section": "history", "_line": line}


def _notification(user):
    """Someone else's notification: every role but its owner gets 404 for it, so the
    table's visitors (never the target) are checked against a notification of their own."""
    from app.blueprints.notifications.models import Notification
    from app.core.extensions import db

    notification = Notification(user_id=user.id, kind="alert", title="Hot", url="/")
    db.session.add(notification)
    db.session.flush()
    return notification


def _alerts_world(machine, machine_type):
    """URL arguments of the alerts pages: a rule and an alert on the world's machine."""
    from app.blueprints.alerts.models import Alert, AlertRule
    from app.core.extensions import db

    rule = AlertRule(name="Hot", kind="threshold", machine_type=machine_type,
                     metric_key=machine_type.metrics[0].key, condition=">", threshold=70,
                     severity="warning")
    alert = Alert(rule=rule, machine=machine, severity="warning", message="Hot", value=80)
    db.session.add_all([rule, alert])
    db.session.flush()
    return {"rule_id": rule.id, "alert_id": alert.id}


def _andon_world(machine):
    """URL arguments of the andon pages: an active call on the world's machine."""
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from app.blueprints.andon.escalation import save_level
    from app.blueprints.andon.models import EscalationLevel
    from app.blueprints.andon.services import raise_call
    from app.blueprints.auth.services import create_account

    data = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(data, "PNG")
    data.seek(0)
    raiser = create_account("maintenance", "andonraiser", "correct horse battery")
    call = raise_call(raiser, machine, "stoppage", photo=FileStorage(data, "jam.png"))
    level = save_level(EscalationLevel(), "high", "acknowledge", 1, 5, ["shift_manager"])
    return {"call_id": call.id, "level_id": level.id}


def _tasks_world(machine):
    """URL arguments of the tasks pages: a task and a plan on the world's machine."""
    from app.blueprints.tasks.models import MaintenancePlan, Task
    from app.core.extensions import db

    plan = MaintenancePlan(machine=machine, title="Monthly service", every_days=30)
    task = Task(machine=machine, title="Check the belt", plan=plan)
    db.session.add_all([plan, task])
    db.session.flush()
    return {"task_id": task.id, "plan_id": plan.id}


def _issue_with_photo(machine, reporter):
    import io

    from PIL import Image
    from werkzeug.datastructures import FileStorage

    from app.blueprints.logbook.attachments import save_upload
    from app.blueprints.logbook.models import Issue
    from app.core.extensions import db

    issue = Issue(machine=machine, category="alarm", title="Spindle alarm",
                  description="Alarm on the screen", reported_by=reporter)
    db.session.add(issue)
    db.session.flush()
    data = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(data, "PNG")
    data.seek(0)
    attachment = save_upload(issue, FileStorage(data, "screen.png", "photo"), reporter)
    return issue, attachment


def _routes(app, world):
    for rule in app.url_map.iter_rules():
        if ROUTES[rule.endpoint] == SOCKET:
            continue
        url = rule.build({k: v for k, v in world.items() if k in rule.arguments},
                         append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def _visit(browser, method, url):
    if method == "GET":
        return browser.get(url)
    return browser.post(url, {})


def _problem(endpoint, method, url, role, response):
    allowed = ROUTES[endpoint]
    status = response.status_code
    to_login = status == 302 and "/login" in response.headers.get("Location", "")
    if allowed == PUBLIC:
        return None if status < 500 else "server error"
    if role is None:
        return None if to_login else f"anonymous got {status}, expected a redirect to login"
    if role in allowed:
        return None if status not in (401, 403) and not to_login and status < 500 \
            else f"allowed but got {status}"
    return None if status == 403 else f"forbidden but got {status}"


@pytest.mark.parametrize("role", [None, *roles.ROLES])
def test_route_access(app, world, role, browser, make_user):
    from app.blueprints.machines import services

    if role is not None:
        user = make_user(role)
        if role == roles.OPERATOR:
            services.save_line(world["_line"], world["_line"].code, world["_line"].name,
                               operators=[user])
        assert browser.login(user.username, "correct horse battery").status_code == 302
    problems = []
    for endpoint, method, url in _routes(app, world):
        if endpoint == "auth.logout" and method == "POST":
            continue  # would end the session half-way through the table
        response = _visit(browser, method, url)
        problem = _problem(endpoint, method, url, role, response)
        if problem:
            problems.append(f"{method} {url} ({endpoint}) as {role or 'anonymous'}: {problem}")
    assert problems == [], "\n".join(problems)


def test_a_service_refusal_is_a_403_page_and_keeps_nothing(app, make_machine):
    """Services raise app.core.errors.Forbidden (views check first; this is the backstop); one
    app-wide handler rolls the request's work back and answers with the 403 page."""
    from app.blueprints.tasks.models import Task
    from app.core.errors import Forbidden
    from app.core.extensions import db

    machine = make_machine()
    with app.test_request_context("/tasks/"):
        db.session.add(Task(machine=machine, title="Half made"))
        db.session.flush()
        response = app.make_response(app.handle_user_exception(Forbidden("not yours")))
        assert response.status_code == 403
        assert "You may not open this page" in response.get_data(as_text=True)
        assert db.session.query(Task).filter_by(title="Half made").count() == 0
