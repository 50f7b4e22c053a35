"""Schemathesis over the whole OpenAPI description, as a manager: no server errors, and
every response as the description says. Bounded (20 examples an operation, fixed seed) so
`make test` stays quick; raise MAX_EXAMPLES locally to dig deeper.

The operations are run from one test with schemathesis's Python API: its pytest plugin
(schemathesis.pytest.from_fixture) fails under pytest 9 ('Function' has no '_nodeid').
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from tests.api.conftest import log_in

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
MAX_EXAMPLES = 20


def _fresh_contexts(app):
    """Each request in its own app context, as in production (see FreshContextClient)."""
    def wsgi(environ, start_response):
        with app.app_context():
            return app(environ, start_response)
    return wsgi


def _check(operation, headers):
    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)
    run()


# It grows with the description (20 examples for each of ~90 operations): beyond the
# suite's 120-second default per test on a loaded machine.
@pytest.mark.timeout(900)
def test_the_api_keeps_its_description(app, client, make_user, make_machine, make_alert_rule,
                                       make_alert, make_andon_call):
    machine = make_machine()  # something for the item routes to find
    make_alert(make_alert_rule(machine=machine))
    make_andon_call(machine)
    manager = make_user("production_manager")
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", _fresh_contexts(app))
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        # A fresh login each: the logout operation revokes the token it is called with.
        token = log_in(client, manager.username).json["access_token"]
        try:
            _check(operation, {"Authorization": f"Bearer {token}"})
        except Exception as exc:  # every operation is run, then one report
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 12
    assert failures == [], "\n\n".join(failures)
