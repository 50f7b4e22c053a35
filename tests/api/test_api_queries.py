"""A list endpoint costs the same few queries for a short page as for a full one (no query
per row); the same guard as the pages' lists."""

import pytest


def _queries(count_queries, api, url):
    with count_queries() as statements:
        response = api.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    return len(statements)


@pytest.fixture
def rows(make_machine, make_issue, make_task, make_alert_rule, make_alert, make_andon_call):
    """Adds `n` of every listed thing, each on a machine of its own."""
    def add(n):
        for i in range(n):
            machine = make_machine()
            make_issue(machine=machine)
            make_task(machine, title=f"Task {i}")
            make_alert(make_alert_rule(machine=machine, name=f"Rule {machine.code}"))
            make_andon_call(machine)
    return add


@pytest.mark.parametrize("url", ["/api/v1/machines", "/api/v1/equipment", "/api/v1/issues",
                                 "/api/v1/tasks", "/api/v1/alerts?state=all",
                                 "/api/v1/alert-rules", "/api/v1/andon/events"])
def test_a_list_costs_the_same_queries_for_3_or_15_rows(api_as, rows, count_queries, url):
    api, _ = api_as("production_manager")
    page = f"{url}{'&' if '?' in url else '?'}per_page=50"
    rows(3)
    few = _queries(count_queries, api, page)
    rows(12)
    many = _queries(count_queries, api, page)
    assert many == few, f"{url}: {few} queries for 3 rows, {many} for 15"


def test_readings_cost_the_same_queries_for_3_or_15(api_as, make_machine, count_queries):
    from datetime import UTC, datetime, timedelta

    from app.blueprints.telemetry.ingest import ingest
    from app.core.extensions import db

    api, _ = api_as("production_manager")
    machine = make_machine()
    start = datetime.now(UTC) - timedelta(hours=1)

    def store(first, n):
        ingest([{"ts": (start + timedelta(seconds=first + i)).isoformat(),
                 "values": {"temperature": first + i}} for i in range(n)], "webhook",
               machine=machine)
        db.session.commit()
    url = f"/api/v1/readings?machine={machine.id}&per_page=50"
    store(0, 3)
    few = _queries(count_queries, api, url)
    store(3, 12)
    assert _queries(count_queries, api, url) == few


@pytest.mark.parametrize("url", ["/api/v1/lines", "/api/v1/production/lines",
                                 "/api/v1/departments", "/api/v1/machine-types"])
def test_places_cost_the_same_queries_for_3_or_15(api_as, make_user, make_line,
                                                  make_machine_type, count_queries, url):
    from app.blueprints.machines.models import Department
    from app.core.extensions import db

    api, _ = api_as("production_manager")

    def add(n):
        for _ in range(n):
            make_machine_type()
            line = make_line(operators=[make_user("operator")])
            line.department = Department(code=f"D{line.id}", name=f"Department {line.id}")
        db.session.commit()
    page = f"{url}?per_page=50"
    add(3)
    few = _queries(count_queries, api, page)
    add(12)
    assert _queries(count_queries, api, page) == few


@pytest.mark.parametrize("url", ["/api/v1/dashboard/lines", "/api/v1/dashboard/summary",
                                 "/api/v1/dashboard/metrics"])
def test_the_dashboard_costs_the_same_queries_for_3_or_15_lines(
        api_as, make_line, make_machine, make_issue, make_task, make_andon_call,
        count_queries, url):
    api, _ = api_as("production_manager")

    def add(n):
        for _ in range(n):
            machine = make_machine(line=make_line())
            make_issue(machine=machine, alarm_code="E1")
            make_task(machine)
            make_andon_call(machine)
    add(3)
    few = _queries(count_queries, api, url)
    add(12)
    assert _queries(count_queries, api, url) == few


def test_notifications_cost_the_same_queries_for_3_or_15(api_as, make_notification,
                                                         count_queries):
    api, me = api_as("operator")
    for _ in range(3):
        make_notification(me)
    few = _queries(count_queries, api, "/api/v1/notifications?per_page=50")
    for _ in range(12):
        make_notification(me)
    assert _queries(count_queries, api, "/api/v1/notifications?per_page=50") == few


def test_users_cost_the_same_queries_for_3_or_15(api_as, make_user, make_line,
                                                 count_queries):
    api, _ = api_as("admin")

    def add(n):
        for _ in range(n):
            make_line(operators=[make_user("operator")])
    add(3)
    few = _queries(count_queries, api, "/api/v1/users?per_page=50")
    add(12)
    assert _queries(count_queries, api, "/api/v1/users?per_page=50") == few


@pytest.mark.parametrize("url", ["/api/v1/maintenance-plans", "/api/v1/remedies"])
def test_plans_and_remedies_cost_the_same_queries_for_3_or_15(
        api_as, make_machine, make_plan, make_issue, make_user, count_queries, url):
    from app.blueprints.logbook import services as logbook
    from app.core.extensions import db

    api, manager = api_as("production_manager")

    def add(n):
        for _ in range(n):
            machine = make_machine()
            make_plan(machine, user=manager, days=10)
            logbook.add_remedy(make_user("maintenance"), make_issue(machine=machine),
                               "Fixed", 10)
        db.session.commit()
    add(3)
    few = _queries(count_queries, api, f"{url}?per_page=50")
    add(12)
    assert _queries(count_queries, api, f"{url}?per_page=50") == few
