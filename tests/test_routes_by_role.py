"""Every route registered on the app, visited as every role: allowed or forbidden as listed.

A new route must be added to ROUTES, or test_every_route_is_listed fails.
"""

import io

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage

# The expected policy, written out: a change to the app's role constants must fail here.
ROLES = ("admin", "production_manager", "shift_manager", "engineer", "maintenance", "quality",
         "operator", "viewer")
ALL = frozenset(ROLES)
MANAGERS = frozenset({"admin", "production_manager", "shift_manager"})
ADMIN = frozenset({"admin"})
PLANT = frozenset({"admin", "production_manager", "shift_manager", "engineer", "maintenance",
                   "quality", "viewer"})
ALERT_READERS = frozenset({"admin", "production_manager", "shift_manager", "operator"})
ANDON_RAISERS = frozenset({"admin", "production_manager", "shift_manager", "engineer",
                           "maintenance", "quality", "operator"})
ANDON_ANSWERERS = frozenset({"admin", "production_manager", "shift_manager", "maintenance"})
REPORTERS = frozenset({"admin", "production_manager", "shift_manager", "engineer",
                       "maintenance", "quality", "operator"})
WORKERS = frozenset({"admin", "production_manager", "shift_manager", "engineer", "maintenance",
                     "quality"})
TASK_CREATORS = frozenset({"admin", "production_manager", "shift_manager", "engineer",
                           "maintenance"})
PUBLIC = "public"      # anyone, logged in or not
SOCKET = "socket"      # the /ws route, tested over a real socket in test_live.py
API = "api"            # bearer tokens, not the session: tests/api/test_api_roles.py
# Admins, or the monitoring token (tests/ops/test_health.py); JSON 401 for anonymous callers
MONITORING = "monitoring"

# endpoint → who may use it. Anonymous visitors are sent to the login page for all but PUBLIC.
ROUTES = {
    "static": PUBLIC,
    "ops.health": PUBLIC,
    "ops.ready": PUBLIC,
    "ops.detailed": MONITORING,
    "ops.health_page": ADMIN,
    "auth.login": PUBLIC,
    "api.ingest": PUBLIC,  # machines sign each request instead of logging in
    "api-docs.openapi_json": PUBLIC,
    "api-docs.openapi_swagger_ui": PUBLIC,
    "api-docs.openapi_redoc": PUBLIC,
    "api.login": API,
    "api.token": API,
    "api.refresh": API,
    "api.token_refresh": API,
    "api.logout": API,
    "api.profile": API,
    "api.update_profile": API,
    "api.list_machines": API,
    "api.get_machine": API,
    "api.create_machine": API,
    "api.update_machine": API,
    "api.delete_machine": API,
    "api.list_equipment": API,
    "api.equipment_status": API,
    "api.list_alerts": API,
    "api.get_alert": API,
    "api.acknowledge_alert": API,
    "api.comment_on_alert": API,
    "api.close_alert": API,
    "api.list_alert_rules": API,
    "api.get_alert_rule": API,
    "api.create_alert_rule": API,
    "api.update_alert_rule": API,
    "api.delete_alert_rule": API,
    "api.list_andon_events": API,
    "api.get_andon_event": API,
    "api.raise_andon_event": API,
    "api.acknowledge_andon_event": API,
    "api.resolve_andon_event": API,
    "api.list_tasks": API,
    "api.get_task": API,
    "api.create_task": API,
    "api.update_task": API,
    "api.change_task_status": API,
    "api.list_issues": API,
    "api.get_issue": API,
    "api.report_issue": API,
    "api.update_issue": API,
    "api.change_issue_status": API,
    "api.add_issue_remedy": API,
    "api.upload_issue_attachment": API,
    "api.get_attachment": API,
    "api.list_api_keys": API,
    "api.create_api_key": API,
    "api.get_api_key": API,
    "api.revoke_api_key": API,
    "api.list_readings": API,
    "api.get_reading": API,
    "api.create_reading": API,
    "api.correct_reading": API,
    "api.delete_reading": API,
    "api.list_data": API,
    "api.get_data": API,
    "api.create_data": API,
    "api.correct_data": API,
    "api.delete_data": API,
    "api.list_departments": API,
    "api.get_department": API,
    "api.create_department": API,
    "api.update_department": API,
    "api.delete_department": API,
    "api.list_lines": API,
    "api.get_line": API,
    "api.create_line": API,
    "api.update_line": API,
    "api.delete_line": API,
    "api.list_production_lines": API,
    "api.get_production_line": API,
    "api.create_production_line": API,
    "api.update_production_line": API,
    "api.delete_production_line": API,
    "api.list_machine_types": API,
    "api.get_machine_type": API,
    "api.create_machine_type": API,
    "api.update_machine_type": API,
    "api.delete_machine_type": API,
    "api.add_metric": API,
    "api.update_metric": API,
    "api.delete_metric": API,
    "api.equipment_faults": API,
    "api.schedule_maintenance": API,
    "api.dashboard_summary": API,
    "api.dashboard_lines": API,
    "api.dashboard_line_status": API,
    "api.dashboard_metrics": API,
    "api.dashboard_line_oee": API,
    "api.line_oee": API,
    "api.current_oee": API,
    "api.daily_summary": API,
    "api.calculate_oee": API,
    "api.list_notifications": API,
    "api.mark_notification_read": API,
    "api.mark_all_notifications_read": API,
    "api.list_users": API,
    "api.get_user": API,
    "api.create_user": API,
    "api.update_user": API,
    "api.deactivate_user": API,
    "api.reactivate_user": API,
    "api.reset_user_password": API,
    "api.list_plans": API,
    "api.get_plan": API,
    "api.create_plan": API,
    "api.update_plan": API,
    "api.deactivate_plan": API,
    "api.reactivate_plan": API,
    "api.list_remedies": API,
    "api.get_remedy": API,
    "auth.logout": ALL,
    "live": SOCKET,
    "api_ws.api_socket": SOCKET,  # /api/v1/ws, tested over a real socket in tests/api
    "dashboard.home": ALL,
    "dashboard.moved_to_auth": PUBLIC,  # old /login, /users ... URLs redirect to /auth
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
    "auth.change_role": MANAGERS,
    "auth.api_keys": ADMIN,
    "auth.new_api_key": ADMIN,
    "auth.revoke_api_key": ADMIN,
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
    "logbook.upload_attachment": REPORTERS,
    "logbook.attachment_file": ALL,
    "logbook.attachment_thumbnail": ALL,
    "logbook.read_attachment_again": WORKERS,
    "logbook.delete_attachment": WORKERS,
    # logbook issues: the world's issue is on the operator's line, reported by someone else
    "logbook.index": ALL,
    "logbook.issues_csv": ALL,
    "logbook.show": ALL,
    "logbook.new": REPORTERS,
    "logbook.report": REPORTERS,
    "logbook.edit": WORKERS,
    "logbook.change_status": WORKERS,
    "logbook.set_runnable": WORKERS,
    "logbook.assign": WORKERS,
    "logbook.add_remedy": WORKERS,
    "logbook.labels": MANAGERS,
    # logbook metrics (operators see their machines' numbers) and the AI panel's "try again"
    "logbook.metrics": ALL,
    "logbook.retry_ai": WORKERS,
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
    "tasks.new": TASK_CREATORS,
    "tasks.edit": TASK_CREATORS,
    "tasks.change_status": MANAGERS,
    "tasks.from_issue": WORKERS,
    "tasks.from_alert": MANAGERS,
    "tasks.plans_index": PLANT,
    "tasks.new_plan": MANAGERS,
    "tasks.edit_plan": MANAGERS,
    "tasks.deactivate_plan": MANAGERS,
    "tasks.reactivate_plan": MANAGERS,
    "production.index": PLANT,
    "production.patterns": PLANT,
    "production.new_pattern": MANAGERS,
    "production.show_pattern": PLANT,
    "production.edit_pattern": MANAGERS,
    "production.new_shift": MANAGERS,
    "production.edit_shift": MANAGERS,
    "production.delete_shift": MANAGERS,
    "production.new_break": MANAGERS,
    "production.delete_break": MANAGERS,
    "production.new_assignment": MANAGERS,
    "production.delete_assignment": MANAGERS,
    "production.exceptions": PLANT,
    "production.new_exception": MANAGERS,
    "production.edit_exception": MANAGERS,
    "production.delete_exception": MANAGERS,
    "production.products": PLANT,
    "production.new_product": MANAGERS,
    "production.show_product": PLANT,
    "production.edit_product": MANAGERS,
    "production.set_cycle": MANAGERS,
    "production.delete_cycle": MANAGERS,
    "production.reasons": PLANT,
    "production.new_category": MANAGERS,
    "production.edit_category": MANAGERS,
    "production.new_reason": MANAGERS,
    "production.edit_reason": MANAGERS,
}


def test_the_app_has_the_roles_listed_here():
    from app.blueprints.auth import roles

    assert roles.ROLES == ROLES, "a role was added or removed: update ROLES and the table"


def test_every_route_is_listed(app):
    registered = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert registered - ROUTES.keys() == set(), "add these routes to ROUTES"
    assert ROUTES.keys() - registered == set(), "these listed routes no longer exist"


@pytest.fixture
def world(make_user, make_machine, make_machine_type, make_line, make_issue, make_notification,
          make_alert_rule, make_alert, make_andon_call, make_plan, make_task):
    """One of everything a URL can point at; the target user is an operator."""
    from app.blueprints.andon.escalation import save_level
    from app.blueprints.andon.models import EscalationLevel
    from app.blueprints.auth import keys
    from app.blueprints.logbook.attachments import save_upload
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Department
    from app.core.extensions import db

    machine_type = make_machine_type()
    line = make_line()
    department = services.save_department(Department(), "DEP", "Department")
    target = make_user("operator")
    machine = make_machine(machine_type=machine_type, line=line)
    reporter = make_user("maintenance")
    issue = make_issue(machine, reporter)
    attachment = save_upload(issue, FileStorage(_png("white"), "screen.png", "photo"), reporter)
    # Someone else's notification: every role but its owner gets 404 for it, so the table's
    # visitors (never the target) are checked against a notification of their own.
    notification = make_notification(target, title="Hot", url="/")
    # The alerts pages: a rule and an alert on the world's machine.
    rule = make_alert_rule(machine_type, metric_key=machine_type.metrics[0].key, name="Hot")
    alert = make_alert(rule, machine, value=80)
    # The andon pages: an active call on the world's machine.
    call = make_andon_call(machine, photo=FileStorage(_png("red"), "jam.png"))
    level = save_level(EscalationLevel(), "high", "acknowledge", 1, 5, ["shift_manager"])
    # The tasks pages: a plan and a task of it, assigned to nobody.
    plan = make_plan(machine, title="Monthly service", days=30)
    task = make_task(machine, plan=plan, assignees=[])
    key, _ = keys.create_api_key(make_user("admin"), "MES", "viewer")
    production = _production_world(line)
    db.session.commit()
    return {"machine_id": machine.id, "type_id": machine_type.id,
            "metric_id": machine_type.metrics[0].id, "line_id": line.id,
            "department_id": department.id, "user_id": target.id,
            "issue_id": issue.id, "attachment_id": attachment.id,
            "machine_code": machine.code, "notification_id": notification.id,
            "rule_id": rule.id, "alert_id": alert.id, "call_id": call.id,
            "level_id": level.id, "task_id": task.id, "plan_id": plan.id,
            "key_id": key.id,
            "filename": "css/app.css", "section": "history",
            "page": "users", "rest": "new", "_line": line, **production}


def _production_world(line):
    """The production pages: a pattern with a shift and a break on the line, an exception,
    a product with a cycle time, a reason in a category."""
    from datetime import date, time

    from app.blueprints.production import setup
    from app.blueprints.production.models import (
        CalendarException,
        Product,
        Reason,
        ReasonCategory,
        Shift,
        ShiftBreak,
        ShiftPattern,
    )

    pattern = setup.save_pattern(ShiftPattern(), "Weekdays", 7)
    shift = setup.save_shift(pattern, Shift(), "Early", time(6), time(14), [1, 2, 3, 4, 5])
    stop = setup.save_break(shift, ShiftBreak(), "Lunch", time(10), time(10, 30))
    assignment = setup.assign_pattern(line, pattern, date(2026, 1, 1))
    exception = setup.save_exception(CalendarException(), "holiday", "Christmas",
                                     date(2026, 12, 24), date(2026, 12, 26))
    product = setup.save_product(Product(), "P-1", "Bracket")
    cycle = setup.set_ideal_cycle(product, 30, line=line)
    category = setup.save_category(ReasonCategory(), "Mechanical")
    reason = setup.save_reason(Reason(), category, "Tool breakage", "breakdown")
    return {"pattern_id": pattern.id, "shift_id": shift.id, "break_id": stop.id,
            "assignment_id": assignment.id, "exception_id": exception.id,
            "product_id": product.id, "cycle_id": cycle.id, "category_id": category.id,
            "reason_id": reason.id}


def _png(colour):
    data = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(data, "PNG")
    data.seek(0)
    return data


def _routes(app, world):
    for rule in app.url_map.iter_rules():
        if ROUTES[rule.endpoint] in (SOCKET, API):
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
    to_login = status == 302 and "/auth/login" in response.headers.get("Location", "")
    if allowed == PUBLIC:
        return None if status < 500 else "server error"
    if allowed == MONITORING:
        expected = 401 if role is None else 200 if role == "admin" else 403
        return None if status == expected else f"expected {expected}, got {status}"
    if role is None:
        return None if to_login else f"anonymous got {status}, expected a redirect to login"
    if role in allowed:
        return None if status not in (401, 403) and not to_login and status < 500 \
            else f"allowed but got {status}"
    return None if status == 403 else f"forbidden but got {status}"


@pytest.mark.parametrize("role", [None, *ROLES])
def test_route_access(app, world, role, browser, make_user):
    from app.blueprints.machines import services

    if role is not None:
        user = make_user(role)
        if role == "operator":
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
