"""The machine registry: pages, validation, visibility and the fixture loader."""

import json

import pytest
from sqlalchemy import select

from app.blueprints.machines import fixtures
from app.blueprints.machines.models import Department, Line, Machine, MachineType, Metric
from app.core.errors import ValidationFailed
from app.core.extensions import db
from tests.helpers import redirect_path, text_of


def _machine(code):
    db.session.expire_all()
    return db.session.scalar(select(Machine).filter_by(code=code))


def test_manager_onboards_a_machine(logged_in, make_machine_type, make_line, make_user):
    machine_type = make_machine_type(name="CNC Milling")
    line = make_line(code="L7")
    operator = make_user("operator")
    browser, _ = logged_in("production_manager")
    form = browser.get("/machines/new")
    assert form.status_code == 200 and "Add a machine" in text_of(form)
    response = browser.post("/machines/new", {
        "code": "cnc-07", "name": "Mill seven", "machine_type_id": machine_type.id,
        "department_id": 0, "line_id": line.id, "status": "active", "location": "Hall B",
        "vendor_id": "cnc_milling_007", "data_url": "http://127.0.0.1:9/data",
        "polling_enabled": "y", "operators": str(operator.id)})
    machine = _machine("CNC-07")
    assert redirect_path(response) == f"/machines/{machine.id}"
    assert machine.line.code == "L7" and machine.polling_enabled
    assert machine.operators[0].id == operator.id
    assert len(machine.webhook_secret) >= 32
    page = text_of(browser.get(f"/machines/{machine.id}"))
    assert "Mill seven" in page and "Temperature" in page and machine.webhook_secret in page


@pytest.mark.parametrize("fields, message", [
    ({"code": "CNC 07!"}, "capital letters"),
    ({"name": ""}, "This field is required"),
    ({"data_url": "ftp://x"}, "http://"),
    ({"polling_enabled": "y", "data_url": ""}, "Polling needs a data URL"),
])
def test_bad_machine_input_is_explained_and_saves_nothing(logged_in, make_machine_type,
                                                          fields, message):
    machine_type = make_machine_type()
    browser, _ = logged_in("shift_manager")
    data = {"code": "GOOD-1", "name": "Good", "machine_type_id": machine_type.id,
            "department_id": 0, "line_id": 0, "status": "active", **fields}
    response = browser.post("/machines/new", data)
    assert response.status_code == 422
    assert message in text_of(response)
    assert db.session.scalar(select(db.func.count()).select_from(Machine)) == 0


def test_duplicate_machine_code_is_refused(logged_in, make_machine, make_machine_type):
    make_machine(code="CNC-07")
    browser, _ = logged_in("production_manager")
    response = browser.post("/machines/new", {
        "code": "cnc-07", "name": "Copy", "machine_type_id": make_machine_type().id,
        "department_id": 0, "line_id": 0, "status": "active"})
    assert response.status_code == 422
    assert "Machine code &#39;CNC-07&#39; is already used." in text_of(response)
    assert db.session.scalar(select(db.func.count()).select_from(Machine)) == 1


def test_viewer_sees_the_plant_but_changes_nothing(logged_in, make_machine):
    machine = make_machine(code="VIEW-1")
    browser, _ = logged_in("viewer")
    assert "VIEW-1" in text_of(browser.get("/machines/"))
    page = text_of(browser.get(f"/machines/{machine.id}"))
    assert "Edit" not in page and machine.webhook_secret not in page
    assert browser.post(f"/machines/{machine.id}/edit", {"name": "x"}).status_code == 403


def test_machine_list_filters_and_paginates(app, logged_in, make_machine, make_line):
    line = make_line(code="LX")
    for n in range(30):
        make_machine(code=f"P-{n:02d}", line=line if n % 2 else None)
    browser, _ = logged_in("production_manager")
    first = text_of(browser.get("/machines/"))
    assert "Page 1 of 2" in first and "P-00" in first and "P-29" not in first
    second = text_of(browser.get("/machines/?page=2"))
    assert "P-29" in second
    on_line = text_of(browser.get(f"/machines/?line={line.id}"))
    assert "P-01" in on_line and "P-02" not in on_line
    found = text_of(browser.get("/machines/?q=p-1"))
    assert "P-10" in found and "P-20" not in found
    nothing = text_of(browser.get("/machines/?q=zzz"))
    assert "No machine matches these filters." in nothing


def test_empty_states_speak_to_the_role(logged_in):
    manager, _ = logged_in("production_manager")
    assert "Add the first machine" in text_of(manager.get("/machines/"))
    assert "No machine types yet." in text_of(manager.get("/machines/types"))
    assert "No production lines yet." in text_of(manager.get("/machines/lines"))
    assert "No departments yet." in text_of(manager.get("/machines/departments"))


def test_operator_empty_state_says_whom_to_ask(logged_in):
    browser, _ = logged_in("operator")
    assert "Ask your shift manager" in text_of(browser.get("/machines/"))
    assert "No machines assigned to you yet." in text_of(browser.get("/"))


def test_types_are_data_a_new_type_needs_no_code(logged_in):
    browser, _ = logged_in("production_manager")
    created = browser.post("/machines/types/new", {"name": "Laser Cutter"})
    machine_type = db.session.scalar(select(MachineType).filter_by(name="Laser Cutter"))
    assert redirect_path(created) == f"/machines/types/{machine_type.id}"
    ok = browser.post(f"/machines/types/{machine_type.id}/metrics/new", {
        "key": "laser_power", "label": "Laser power", "unit": "W", "kind": "number",
        "normal_min": "100", "normal_max": "4000", "role": ""})
    assert ok.status_code == 302
    battery = browser.post(f"/machines/types/{machine_type.id}/metrics/new", {
        "key": "running", "label": "Running", "kind": "boolean", "role": "running"})
    assert battery.status_code == 302
    db.session.expire_all()
    assert [m.key for m in machine_type.metrics] == ["laser_power", "running"]
    assert machine_type.metric_with_role("running").key == "running"


@pytest.mark.parametrize("fields, message", [
    ({"key": "Laser Power"}, "lower-case letters"),
    ({"key": "temperature"}, "already has a metric"),
    ({"normal_min": "10", "normal_max": "5"}, "must not be below"),
    ({"kind": "text", "normal_min": "1"}, "Only number metrics"),
    ({"kind": "text", "role": "battery"}, "must be a number metric"),
])
def test_bad_metric_definitions_are_refused(logged_in, make_machine_type, fields, message):
    machine_type = make_machine_type()
    browser, _ = logged_in("shift_manager")
    data = {"key": "new_metric", "label": "New", "kind": "number", "role": "", **fields}
    response = browser.post(f"/machines/types/{machine_type.id}/metrics/new", data)
    assert response.status_code == 422
    assert message in text_of(response)
    db.session.expire_all()
    assert len(machine_type.metrics) == 1


def test_one_metric_per_special_meaning(make_machine_type):
    from app.blueprints.machines import services

    machine_type = make_machine_type(metrics=())
    services.save_metric(machine_type, Metric(), "battery", "Battery", "%", role="battery")
    with pytest.raises(ValidationFailed, match="already the battery level"):
        services.save_metric(machine_type, Metric(), "battery2", "Spare", "%", role="battery")


def test_type_in_use_cannot_be_deleted(logged_in, make_machine):
    machine = make_machine()
    browser, _ = logged_in("production_manager")
    type_id = machine.machine_type_id
    assert "Delete" in text_of(browser.get(f"/machines/types/{type_id}/delete"))
    response = browser.post(f"/machines/types/{type_id}/delete", follow_redirects=True)
    assert "move them to another type first" in text_of(response)
    assert db.session.get(MachineType, type_id) is not None


def test_unused_type_and_metric_can_be_deleted(logged_in, make_machine_type):
    machine_type = make_machine_type()
    type_id, metric_id = machine_type.id, machine_type.metrics[0].id
    browser, _ = logged_in("production_manager")
    browser.post(f"/machines/types/{type_id}/metrics/{metric_id}/delete")
    db.session.expire_all()
    assert db.session.get(Metric, metric_id) is None
    browser.post(f"/machines/types/{type_id}/delete")
    db.session.expire_all()
    assert db.session.get(MachineType, type_id) is None


def test_lines_and_departments(logged_in, make_user):
    operator = make_user("operator")
    browser, _ = logged_in("shift_manager")
    assert browser.post("/machines/departments/new", {"code": "mach", "name": "Machining"}
                        ).status_code == 302
    department = db.session.scalar(select(Department).filter_by(code="MACH"))
    dup = browser.post("/machines/departments/new", {"code": "MACH", "name": "Other"})
    assert dup.status_code == 422 and "already used" in text_of(dup)
    assert browser.post("/machines/lines/new", {"code": "L1", "name": "Line one",
                                                "department_id": department.id,
                                                "operators": str(operator.id)}
                        ).status_code == 302
    line = db.session.scalar(select(Line).filter_by(code="L1"))
    assert [u.id for u in line.operators] == [operator.id]
    assert "Line one" in text_of(browser.get("/machines/lines"))


def test_rotating_the_webhook_secret_needs_confirmation(logged_in, make_machine):
    machine = make_machine()
    old = machine.webhook_secret
    browser, _ = logged_in("production_manager")
    assert "Make a new secret" in text_of(browser.get(f"/machines/{machine.id}/secret"))
    assert _machine(machine.code).webhook_secret == old
    browser.post(f"/machines/{machine.id}/secret")
    assert _machine(machine.code).webhook_secret != old


# --- the fixture loader -------------------------------------------------------------------

SEED_MACHINES = """[
  {"model": "machine.machine", "pk": 1,
   "fields": {"machine_id": "welding_robot_006", "name": "Welding Robot 006",
              "timestamp": "2024-10-18T15:30:00Z"}},
  {"model": "machine.machine", "pk": 5,
   "fields": {"machine_id": "cnc_milling_004", "name": "CNC Milling machine 004",
              "timestamp": "2024-10-18T15:30:00Z"}}
]"""


def test_loads_the_smart_analytics_seed_fixture(app, tmp_path):
    path = tmp_path / "machines.json"
    path.write_text(SEED_MACHINES)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["machines", "load", str(path)])
    assert result.exit_code == 0, result.output
    weld = _machine("WELDING-ROBOT-006")
    assert weld.vendor_id == "welding_robot_006" and weld.machine_type.name == "Welding Robot"
    assert _machine("CNC-MILLING-004").machine_type.name == "CNC Milling"
    again = runner.invoke(args=["machines", "load", str(path)])
    assert again.exit_code == 0
    assert db.session.scalar(select(db.func.count()).select_from(Machine)) == 2


def test_loads_the_demo_plant_twice_without_change(app):
    from app.demo import PLANT

    first = fixtures.load(PLANT.read_text())
    count = db.session.scalar(select(db.func.count()).select_from(Machine))
    second = fixtures.load(PLANT.read_text())
    assert first == second and count == 11
    assert db.session.scalar(select(db.func.count()).select_from(Machine)) == 11
    agv = db.session.scalar(select(MachineType).filter_by(name="AGV"))
    assert agv.metric_with_role("battery").key == "battery_level"


def test_bad_fixture_names_line_and_field_and_loads_nothing(app, tmp_path):
    plant = {
        "departments": [{"code": "MACH", "name": "Machining"}],
        "machine_types": [{"name": "Mill", "metrics": [
            {"key": "temperature", "label": "Temperature", "min": "hot"}]}],
        "machines": [
            {"code": "M-1", "name": "Fine", "type": "Mill", "department": "MACH"},
            {"code": "M-2", "name": "Lost", "type": "Lathe"},
        ],
    }
    path = tmp_path / "plant.json"
    path.write_text(json.dumps(plant, indent=2))
    result = app.test_cli_runner().invoke(args=["machines", "load", str(path)])
    assert result.exit_code == 1
    assert "nothing was loaded" in result.output
    lines = path.read_text().splitlines()
    hot_line = next(i for i, text in enumerate(lines, 1) if '"hot"' in text)
    lathe_line = next(i for i, text in enumerate(lines, 1) if '"Lathe"' in text)
    # The error points at the line where the offending object starts.
    assert f"line {hot_line - 3}: min: must be a number" in result.output
    assert f"line {lathe_line - 3}: type: unknown machine type 'Lathe'" in result.output
    assert db.session.scalar(select(db.func.count()).select_from(Department)) == 0
    assert db.session.scalar(select(db.func.count()).select_from(Machine)) == 0


def test_malformed_json_reports_line_and_column(app, tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{\n  "machines": [\n    {"code": "M-1",}\n  ]\n}\n')
    result = app.test_cli_runner().invoke(args=["machines", "load", str(path)])
    assert result.exit_code == 1
    assert "line 3, column" in result.output and "not valid JSON" in result.output


def test_demo_load_is_idempotent_and_prints_logins(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    assert "9 demo users created" in first.output and "operator1" in first.output
    assert "Demo monitoring: 11 alert rules" in first.output
    assert "maintenance plans added" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert "0 demo users created" in second.output
    assert "Demo monitoring" not in second.output  # nothing missing, nothing added


def test_operator_filters_offer_only_their_own_lines(logged_in, make_line, make_machine):
    browser, operator = logged_in("operator")
    mine = make_line(name="My line", operators=[operator])
    make_line(name="Someone else's line")
    make_machine(line=mine)
    page = text_of(browser.get("/machines/"))
    assert "My line" in page and "Someone else&#39;s line" not in page


def test_plant_page_lists_machines_nobody_is_assigned_to(logged_in, make_machine, make_line,
                                                         make_user):
    operator = make_user("operator")
    staffed_line = make_line(operators=[operator])
    make_machine(code="ON-LINE-1", line=staffed_line)
    make_machine(code="DIRECT-1", operators=[operator])
    make_machine(code="ALONE-1")
    make_machine(code="GONE-1", status="retired")
    browser, _ = logged_in("production_manager")
    html = text_of(browser.get("/"))
    section = html[html.index("Nobody assigned"):]
    assert "ALONE-1" in section
    assert "ON-LINE-1" not in section and "DIRECT-1" not in section and "GONE-1" not in section
