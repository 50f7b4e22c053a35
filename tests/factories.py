"""Factory fixtures: each returns a callable that builds one committed object.

`make_machine(code="CNC-1")`, `make_alert_rule(machine_type)`, `make_task(machine)` ...
Defaults make a valid object; keyword arguments override them. Objects that the app makes
through a service (accounts, machines, rules, tasks, plans, calls, notifications) are made
through that service, so they carry what the app would give them (events, history);
issues and alerts are plain rows, since tests need them in states no service reaches in
one call (resolved last month, raised an hour ago).
App modules are imported inside the fixtures: conftest sets the database URL before the
app's config is first imported.
"""

import pytest

from tests.helpers import PASSWORD


def _numbers():
    return iter(range(1, 10_000))


@pytest.fixture
def make_user(app):
    from app.blueprints.auth import services
    from app.core.extensions import db

    counter = _numbers()

    def make(role="operator", username=None, password=PASSWORD, **fields):
        n = next(counter)
        user = services.create_account(role, username or f"{role.replace('_', '')}{n}",
                                       password, full_name=fields.pop("full_name",
                                                                      f"Test {role} {n}"))
        for key, value in fields.items():
            setattr(user, key, value)
        db.session.commit()
        return user
    return make


@pytest.fixture
def make_machine_type(app):
    from app.blueprints.machines import services
    from app.blueprints.machines.models import MachineType, Metric
    from app.core.extensions import db

    counter = _numbers()

    def make(name=None, metrics=(("temperature", "Temperature", "°C", 20, 70),)):
        machine_type = services.save_machine_type(MachineType(),
                                                  name or f"Type {next(counter)}")
        for key, label, unit, low, high in metrics:
            services.save_metric(machine_type, Metric(), key, label, unit, "number", low, high)
        db.session.commit()
        return machine_type
    return make


@pytest.fixture
def make_line(app):
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Line
    from app.core.extensions import db

    counter = _numbers()

    def make(code=None, name=None, operators=None):
        n = next(counter)
        line = services.save_line(Line(), code or f"L{n}", name or f"Line {n}",
                                  operators=operators)
        db.session.commit()
        return line
    return make


@pytest.fixture
def make_machine(app, make_machine_type):
    from app.blueprints.machines import services
    from app.blueprints.machines.models import Machine
    from app.core.extensions import db

    counter = _numbers()

    def make(code=None, machine_type=None, line=None, operators=(), **fields):
        n = next(counter)
        machine = services.save_machine(Machine(), code=code or f"M-{n:03d}",
                                        name=fields.pop("name", f"Machine {n}"),
                                        machine_type=machine_type or make_machine_type(),
                                        line=line, **fields)
        if operators:
            services.set_machine_operators(machine, list(operators))
        db.session.commit()
        return machine
    return make


@pytest.fixture
def make_issue(app, make_machine, make_user):
    """A logbook issue row (no history, no downtime, no AI request); any column may be given."""
    from app.blueprints.logbook.models import Issue
    from app.core.extensions import db

    def make(machine=None, reporter=None, **fields):
        fields = {"category": "alarm", "title": "Spindle alarm",
                  "description": "Alarm on the screen", **fields}
        issue = Issue(machine=machine or make_machine(),
                      reported_by=reporter or make_user("maintenance"), **fields)
        db.session.add(issue)
        db.session.commit()
        return issue
    return make


@pytest.fixture
def make_alert_rule(app):
    """An alert rule saved through the rules service; by default "temperature > 70"."""
    from app.blueprints.alerts import rules
    from app.blueprints.alerts.models import AlertRule
    from app.core.extensions import db

    def make(machine_type=None, machine=None, kind="threshold", metric_key="temperature",
             condition=">", threshold="70", sustained=0, severity="warning", template="",
             create_task=False, offline_intervals=None, enabled=True, name="Overheating"):
        rule = rules.save_rule(AlertRule(), name=name, kind=kind, machine_type=machine_type,
                               machine=machine, metric_key=metric_key, condition=condition,
                               threshold=threshold, sustained_seconds=sustained,
                               offline_intervals=offline_intervals, severity=severity,
                               template=template, create_task=create_task, enabled=enabled)
        db.session.commit()
        return rule
    return make


@pytest.fixture
def make_alert(app):
    """An alert row of `rule` (on the rule's machine unless given); any column may be given."""
    from app.blueprints.alerts.models import Alert
    from app.core.extensions import db

    def make(rule, machine=None, **fields):
        fields = {"severity": rule.severity, "message": "Hot", **fields}
        alert = Alert(rule=rule, machine=machine or rule.machine, **fields)
        db.session.add(alert)
        db.session.commit()
        return alert
    return make


@pytest.fixture
def make_task(app):
    """A task made by the tasks service: assigned to the machine's people unless given."""
    from app.blueprints.tasks import services
    from app.core.extensions import db

    def make(machine, title="Check the belt", **fields):
        task = services.create_task(machine, title, **fields)
        db.session.commit()
        return task
    return make


@pytest.fixture
def make_plan(app, make_user):
    """A maintenance plan saved by a manager; give days, hours and/or parts."""
    from app.blueprints.tasks import plans
    from app.blueprints.tasks.models import MaintenancePlan
    from app.core.extensions import db

    def make(machine, user=None, days=None, hours=None, parts=None, title="Service"):
        plan = plans.save_plan(user or make_user("shift_manager"), MaintenancePlan(), machine,
                               title, "Grease it", "medium", days, hours, parts, 2)
        db.session.commit()
        return plan
    return make


@pytest.fixture
def make_andon_call(app, make_user):
    """An andon call raised by the andon service (a stoppage, by a maintenance user)."""
    from app.blueprints.andon import services
    from app.core.extensions import db

    def make(machine, raiser=None, kind="stoppage", **fields):
        call = services.raise_call(raiser or make_user("maintenance"), machine, kind, **fields)
        db.session.commit()
        return call
    return make


@pytest.fixture
def make_notification(app):
    """One notification for `user`, made by the notifications service."""
    from app.blueprints.notifications import services
    from app.core.extensions import db

    def make(user, title="Spindle too hot", url="/machines", kind="alert", **fields):
        [notification] = services.notify([user], kind, title, url, **fields)
        db.session.commit()
        return notification
    return make


# --- counting statements -------------------------------------------------------------------

@pytest.fixture
def count_queries(app):
    """`with count_queries() as statements:` lists the SQL sent inside the block.

    Listens on the engine, so the test's connection and a request's are both counted.
    """
    from contextlib import contextmanager

    from sqlalchemy import event

    from app.core.extensions import db

    @contextmanager
    def counting():
        statements = []
        engine = db.engine.engine  # under a rolled-back test db.engine is its connection

        def listen(_conn, _cursor, statement, *_args):
            statements.append(statement)
        event.listen(engine, "before_cursor_execute", listen)
        try:
            yield statements
        finally:
            event.remove(engine, "before_cursor_execute", listen)
    return counting
