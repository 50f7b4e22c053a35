"""Every API route, called with every role's token: allowed or forbidden as listed.

The pages' table (tests/test_routes_by_role.py) lists these routes as API and leaves them
to this one, since they take a bearer token instead of the session cookie.
"""

import pytest

from tests.api.conftest import ApiClient, log_in

# The expected policy, written out: a change to the app's role constants must fail here.
ROLES = ("admin", "production_manager", "shift_manager", "engineer", "maintenance", "quality",
         "operator", "viewer")
ALL = frozenset(ROLES)
MANAGERS = frozenset({"admin", "production_manager", "shift_manager"})
ADMIN = frozenset({"admin"})
TASK_CREATORS = MANAGERS | {"engineer", "maintenance"}
REPORTERS = ALL - {"viewer"}
PLANT_WIDE = ALL - {"operator"}
PUBLIC = "public"  # no token needed

ROUTES = {
    "api.ingest": PUBLIC,  # machines sign each request instead
    "api.login": PUBLIC,
    "api.token": PUBLIC,
    "api.refresh": PUBLIC,
    "api.token_refresh": PUBLIC,
    "api-docs.openapi_json": PUBLIC,
    "api-docs.openapi_swagger_ui": PUBLIC,
    "api-docs.openapi_redoc": PUBLIC,
    "api.logout": ALL,
    "api.profile": ALL,
    "api.update_profile": ALL,
    "api.list_machines": ALL,
    "api.get_machine": ALL,
    "api.create_machine": MANAGERS,
    "api.update_machine": MANAGERS,
    "api.delete_machine": MANAGERS,
    "api.list_equipment": ALL,
    "api.equipment_status": ALL,
    "api.list_alerts": MANAGERS | {"operator"},
    "api.get_alert": MANAGERS | {"operator"},
    "api.acknowledge_alert": MANAGERS | {"operator"},
    "api.comment_on_alert": MANAGERS | {"operator"},
    "api.close_alert": MANAGERS,
    "api.list_alert_rules": MANAGERS | {"operator"},
    "api.get_alert_rule": MANAGERS | {"operator"},
    "api.create_alert_rule": MANAGERS,
    "api.update_alert_rule": MANAGERS,
    "api.delete_alert_rule": MANAGERS,
    "api.list_andon_events": ALL,
    "api.get_andon_event": ALL,
    "api.raise_andon_event": ALL - {"viewer"},
    # The call below is a stoppage: managers and maintenance answer it (andon.access).
    "api.acknowledge_andon_event": MANAGERS | {"maintenance"},
    "api.resolve_andon_event": MANAGERS | {"maintenance"},
    "api.list_tasks": ALL,
    "api.get_task": ALL,
    "api.create_task": TASK_CREATORS,
    "api.update_task": TASK_CREATORS,
    "api.change_task_status": ALL,
    "api.list_issues": ALL,
    "api.get_issue": ALL,
    "api.report_issue": REPORTERS,
    "api.update_issue": REPORTERS,
    "api.change_issue_status": REPORTERS,
    "api.add_issue_remedy": REPORTERS,
    "api.upload_issue_attachment": REPORTERS,
    "api.get_attachment": ALL,
    "api.list_api_keys": ADMIN,
    "api.create_api_key": ADMIN,
    "api.get_api_key": ADMIN,
    "api.revoke_api_key": ADMIN,
    "api.list_readings": ALL,
    "api.get_reading": ALL,
    "api.create_reading": MANAGERS,
    "api.correct_reading": {"admin"},
    "api.delete_reading": {"admin"},
    "api.list_data": ALL,
    "api.get_data": ALL,
    "api.create_data": MANAGERS,
    "api.correct_data": {"admin"},
    "api.delete_data": {"admin"},
    "api.list_departments": PLANT_WIDE,
    "api.get_department": PLANT_WIDE,
    "api.create_department": MANAGERS,
    "api.update_department": MANAGERS,
    "api.delete_department": MANAGERS,
    "api.list_lines": PLANT_WIDE,
    "api.get_line": PLANT_WIDE,
    "api.create_line": MANAGERS,
    "api.update_line": MANAGERS,
    "api.delete_line": MANAGERS,
    "api.list_production_lines": PLANT_WIDE,
    "api.get_production_line": PLANT_WIDE,
    "api.create_production_line": MANAGERS,
    "api.update_production_line": MANAGERS,
    "api.delete_production_line": MANAGERS,
    "api.list_machine_types": PLANT_WIDE,
    "api.get_machine_type": PLANT_WIDE,
    "api.create_machine_type": MANAGERS,
    "api.update_machine_type": MANAGERS,
    "api.delete_machine_type": MANAGERS,
    "api.add_metric": MANAGERS,
    "api.update_metric": MANAGERS,
    "api.delete_metric": MANAGERS,
    "api.equipment_faults": ALL,
    "api.schedule_maintenance": TASK_CREATORS,
    "api.dashboard_summary": ALL,
    "api.dashboard_lines": ALL,
    "api.dashboard_line_status": ALL,
    "api.dashboard_metrics": ALL,
    # OEE: production's readers (operators: the lines of their machines); recompute: managers.
    "api.dashboard_line_oee": ALL,
    "api.line_oee": ALL,
    "api.current_oee": ALL,
    "api.daily_summary": ALL,
    "api.calculate_oee": MANAGERS,
    "api.list_notifications": ALL,
    "api.mark_notification_read": ALL,
    "api.mark_all_notifications_read": ALL,
    "api.list_users": MANAGERS,
    "api.get_user": MANAGERS,
    "api.create_user": MANAGERS,
    "api.update_user": MANAGERS,
    "api.deactivate_user": MANAGERS,
    "api.reactivate_user": MANAGERS,
    "api.reset_user_password": MANAGERS,
    "api.list_plans": PLANT_WIDE,
    "api.get_plan": PLANT_WIDE,
    "api.create_plan": MANAGERS,
    "api.update_plan": MANAGERS,
    "api.deactivate_plan": MANAGERS,
    "api.reactivate_plan": MANAGERS,
    "api.list_remedies": ALL,
    "api.get_remedy": ALL,
}


# Ids of nothing: the role check answers before the lookup's 404.
OTHER_IDS = {"task_id": 999_999, "issue_id": 999_999, "attachment_id": 999_999,
             "key_id": 999_999,
             "reading_id": "999999-0", "department_id": 999_999, "line_id": 999_999,
             "type_id": 999_999, "metric_id": 999_999, "notification_id": 999_999,
             "user_id": 999_999, "plan_id": 999_999, "remedy_id": 999_999}


def _api_rules(app):
    return [rule for rule in app.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in ("api", "api-docs")]


def test_every_api_route_is_listed(app):
    registered = {rule.endpoint for rule in _api_rules(app)}
    assert registered - ROUTES.keys() == set(), "add these routes to ROUTES"
    assert ROUTES.keys() - registered == set(), "these listed routes no longer exist"


def _calls(app, machine, ids):
    for rule in _api_rules(app):
        url = rule.build({"machine_id": machine.id, "code": machine.code, **OTHER_IDS, **ids},
                         append_unknown=False)[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if rule.endpoint != "api.logout":  # would end the token half-way through
                yield rule.endpoint, method, url


def _problem(endpoint, role, response):
    allowed, status = ROUTES[endpoint], response.status_code
    if status >= 500:
        return f"server error {status}"
    if allowed == PUBLIC:
        return None
    if role is None:
        return None if status == 401 else f"anonymous got {status}, expected 401"
    if role in allowed:
        return None if status not in (401, 403) else f"allowed but got {status}"
    return None if status == 403 else f"forbidden but got {status}"


@pytest.mark.parametrize("role", [None, *ROLES])
def test_api_route_access(app, client, role, make_user, make_machine, make_alert_rule,
                          make_alert, make_andon_call):
    machine = make_machine()
    if role is not None:
        user = make_user(role)
        if role == "operator":
            machine = make_machine(operators=[user])
    rule = make_alert_rule(machine=machine)
    ids = {"alert_id": make_alert(rule).id, "rule_id": rule.id,
           "call_id": make_andon_call(machine).id}
    tokens = None if role is None else log_in(client, user.username).json
    caller = ApiClient(client, tokens)
    problems = []
    for endpoint, method, url in _calls(app, machine, ids):
        body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        response = caller.open(method, url, **body)
        problem = _problem(endpoint, role, response)
        if problem:
            problems.append(f"{method} {url} ({endpoint}) as {role or 'anonymous'}: {problem}")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_may_log_out(client, make_user, role):
    api = ApiClient(client, log_in(client, make_user(role).username).json)
    assert api.post("/api/v1/auth/logout").status_code == 204


KEY_ROLES = ("production_manager", "shift_manager", "engineer", "maintenance", "quality",
             "viewer")  # keys are never admin or operator (docs/api.md "API keys")


@pytest.mark.parametrize("role", KEY_ROLES)
def test_an_api_key_has_its_roles_access(app, client, role, make_user, make_machine,
                                         make_alert_rule, make_alert, make_andon_call):
    """The same table, called with an API key of each role a key may have."""
    from app.blueprints.auth import keys
    from app.core.extensions import db

    machine = make_machine()
    rule = make_alert_rule(machine=machine)
    ids = {"alert_id": make_alert(rule).id, "rule_id": rule.id,
           "call_id": make_andon_call(machine).id}
    _, secret = keys.create_api_key(make_user("admin"), f"Key {role}", role)
    db.session.commit()
    problems = []
    for endpoint, method, url in _calls(app, machine, ids):
        body = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        response = client.open(url, method=method, headers={"X-API-Key": secret}, **body)
        problem = _problem(endpoint, role, response)
        if problem:
            problems.append(f"{method} {url} ({endpoint}) by a {role} key: {problem}")
    assert problems == [], "\n".join(problems)
