"""Login, first login, user administration, throttling, CSRF and sessions."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.blueprints.auth import roles
from app.blueprints.auth.models import LoginAttempt, User
from app.core.extensions import db
from tests.helpers import PASSWORD, redirect_path, shown_credentials, text_of


def _reload(user):
    db.session.expire_all()
    return db.session.get(User, user.id)


# --- login ---------------------------------------------------------------------------------

def test_login_with_good_credentials_goes_home(browser, make_user):
    user = make_user("operator")
    response = browser.login(user.username, PASSWORD)
    assert response.status_code == 302 and redirect_path(response) == "/"
    assert _reload(user).last_login_at is not None


def test_login_is_case_insensitive_on_username(browser, make_user):
    make_user("viewer", username="vera")
    assert browser.login("  VERA ", PASSWORD).status_code == 302


def test_wrong_password_is_refused_with_a_message(browser, make_user):
    user = make_user("operator")
    response = browser.login(user.username, "not the password")
    assert response.status_code == 401
    assert "Wrong username or password." in text_of(response)
    assert browser.get("/").status_code == 302


def test_next_parameter_only_follows_local_paths(browser, make_user):
    user = make_user("admin")
    token = browser.token()
    response = browser.client.post("/auth/login?next=//evil.example/x", data={
        "username": user.username, "password": PASSWORD, "csrf_token": token,
        "next": "//evil.example/x"})
    assert redirect_path(response) == "/"


def test_deactivated_user_cannot_log_in(browser, make_user):
    user = make_user("operator", active=False)
    response = browser.login(user.username, PASSWORD)
    assert response.status_code == 401
    assert "deactivated" in text_of(response)


def test_cli_creates_the_first_admin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--username", "boss", "--password",
                                 "a long admin passphrase", "--role", "admin"])
    assert result.exit_code == 0, result.output
    boss = db.session.scalar(select(User).filter_by(username="boss"))
    assert boss.role == "admin" and not boss.needs_setup


@pytest.mark.parametrize("args, message", [
    (["--role", "wizard"], "unknown role"),
    (["--role", "admin", "--password", "short"], "at least"),
])
def test_cli_refuses_bad_input(app, args, message):
    base = ["users", "create", "--username", "someone", "--password", "a long passphrase ok"]
    result = app.test_cli_runner().invoke(args=base + args)
    assert result.exit_code != 0
    assert message in result.output.lower()
    assert db.session.scalar(select(User).filter_by(username="someone")) is None


def test_cli_refuses_duplicate_username(app, make_user):
    make_user("admin", username="taken")
    result = app.test_cli_runner().invoke(args=["users", "create", "--username", "taken",
                                                "--password", "a long passphrase ok",
                                                "--role", "viewer"])
    assert result.exit_code != 0 and "taken" in result.output


# --- throttling ----------------------------------------------------------------------------

def test_failed_logins_lock_the_username(app, browser, make_user):
    user = make_user("operator")
    limit = app.config["LOGIN_MAX_FAILURES_PER_USER"]
    for _ in range(limit):
        assert browser.login(user.username, "wrong password").status_code == 401
    locked = browser.login(user.username, PASSWORD)  # even the right password now waits
    assert locked.status_code == 429
    assert "Too many failed logins" in text_of(locked)
    other = make_user("operator")
    assert browser.login(other.username, PASSWORD).status_code == 302


def test_failed_logins_from_one_address_are_throttled(app, new_browser, make_user):
    limit = app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    attacker = new_browser()
    attacker.client.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    for n in range(limit):
        attacker.login(f"guess{n}", "wrong password")
    victim = make_user("operator")
    assert attacker.login(victim.username, PASSWORD).status_code == 429
    # Someone else at another address is not affected.
    assert new_browser().login(victim.username, PASSWORD).status_code == 302


def test_old_failures_expire_and_are_pruned(app, browser, make_user):
    from app.core.models import utcnow
    from app.jobs.housekeeping import prune_login_attempts

    user = make_user("operator")
    long_ago = utcnow() - timedelta(days=2)
    for _ in range(30):  # over both limits, but two days old
        db.session.add(LoginAttempt(username=user.username, address="127.0.0.1",
                                    attempted_at=long_ago))
        db.session.add(LoginAttempt(username="ghost", address="127.0.0.1",
                                    attempted_at=long_ago))
    db.session.commit()
    assert browser.login(user.username, PASSWORD).status_code == 302
    assert prune_login_attempts() == 30  # the ghost's; the user's went at their login
    assert db.session.scalar(select(db.func.count()).select_from(LoginAttempt)) == 0


def test_successful_login_clears_the_users_failures(app, browser, make_user):
    user = make_user("operator")
    for _ in range(app.config["LOGIN_MAX_FAILURES_PER_USER"] - 1):
        browser.login(user.username, "wrong password")
    assert browser.login(user.username, PASSWORD).status_code == 302
    remaining = db.session.scalars(select(LoginAttempt).filter_by(username=user.username))
    assert list(remaining) == []


# --- CSRF and sessions -------------------------------------------------------------------

def test_login_without_csrf_token_is_rejected(browser, make_user):
    user = make_user("operator")
    response = browser.post("/auth/login", {"username": user.username, "password": PASSWORD},
                            csrf=False)
    assert response.status_code == 400
    assert "Your form expired" in text_of(response)
    assert browser.get("/").status_code == 302  # not logged in


def test_form_post_without_csrf_token_changes_nothing(logged_in, make_machine_type):
    from app.blueprints.machines.models import Machine

    browser, _ = logged_in("production_manager")
    machine_type = make_machine_type()
    response = browser.post("/machines/new", {"code": "CNC-99", "name": "Sneaky",
                                              "machine_type_id": machine_type.id,
                                              "status": "active"}, csrf=False)
    assert response.status_code == 400
    assert db.session.scalar(select(Machine).filter_by(code="CNC-99")) is None


def test_session_expires_after_its_lifetime(app, logged_in, monkeypatch):
    import itsdangerous.timed

    browser, _ = logged_in("viewer")
    assert browser.get("/").status_code == 200
    later = itsdangerous.timed.time.time() + app.permanent_session_lifetime.total_seconds() + 60
    monkeypatch.setattr(itsdangerous.timed.time, "time", lambda: later)
    response = browser.get("/")
    assert response.status_code == 302 and "/auth/login" in redirect_path(response)


def test_logout_ends_the_session(logged_in):
    browser, _ = logged_in("viewer")
    assert browser.logout().status_code == 302
    assert browser.get("/").status_code == 302


# --- creating users ------------------------------------------------------------------------

@pytest.mark.parametrize("creator, role, allowed", [
    ("admin", "admin", True),
    ("admin", "production_manager", True),
    ("admin", "shift_manager", True),
    ("admin", "engineer", True),
    ("admin", "operator", True),
    ("production_manager", "operator", True),
    ("production_manager", "maintenance", True),
    ("shift_manager", "quality", True),
    ("shift_manager", "viewer", True),
    ("production_manager", "admin", False),
    ("production_manager", "production_manager", False),
    ("shift_manager", "shift_manager", False),
    ("shift_manager", "engineer", False),
])
def test_who_may_create_which_role(logged_in, creator, role, allowed):
    browser, _ = logged_in(creator)
    before = db.session.scalar(select(db.func.count()).select_from(User))
    response = browser.post("/auth/users/new", {"role": role})
    after = db.session.scalar(select(db.func.count()).select_from(User))
    if allowed:
        assert response.status_code == 200
        username, password = shown_credentials(response)
        assert username.startswith(("admin-", "pm-", "sm-", "eng-", "op-", "mnt-", "qa-",
                                    "view-"))
        assert len(password) >= 14
        assert response.headers["Cache-Control"] == "no-store"
        new = db.session.scalar(select(User).filter_by(username=username))
        assert new.role == role and new.must_change_password
        assert after == before + 1
    else:
        assert response.status_code == 403
        assert after == before


@pytest.mark.parametrize("role", ["engineer", "maintenance", "quality", "operator", "viewer"])
def test_non_managers_cannot_create_users(logged_in, role):
    browser, _ = logged_in(role)
    assert browser.get("/auth/users/new").status_code == 403
    assert browser.post("/auth/users/new", {"role": "operator"}).status_code == 403


def test_unknown_role_gets_a_clear_message(logged_in):
    browser, _ = logged_in("admin")
    response = browser.post("/auth/users/new", {"role": "overlord"})
    assert response.status_code == 422
    assert "Unknown role &#39;overlord&#39;" in text_of(response)


def test_manager_form_offers_only_roles_they_may_create(logged_in):
    browser, _ = logged_in("shift_manager")
    html = text_of(browser.get("/auth/users/new"))
    assert 'value="operator"' in html and 'value="viewer"' in html
    assert 'value="admin"' not in html and 'value="engineer"' not in html


def test_duplicate_employee_number_is_refused(logged_in, make_user):
    make_user("operator", employee_number="E-100")
    browser, _ = logged_in("shift_manager")
    response = browser.post("/auth/users/new", {"role": "operator", "employee_number": "E-100"})
    assert response.status_code == 422
    assert "belongs to someone else" in text_of(response)


# --- the first login -----------------------------------------------------------------------

def _create_operator(browser, **fields):
    response = browser.post("/auth/users/new", {"role": "operator", **fields})
    assert response.status_code == 200, text_of(response)[:500]
    return shown_credentials(response)


def test_first_login_forces_password_then_profile(logged_in, new_browser, make_line,
                                                  make_machine):
    line = make_line()
    mine = make_machine(code="MINE-1", line=line)
    make_machine(code="OTHER-1")
    manager, _ = logged_in("shift_manager")
    username, one_time = _create_operator(manager, lines=str(line.id))

    operator = new_browser()
    assert operator.login(username, one_time).status_code == 302
    assert redirect_path(operator.get("/")) == "/auth/welcome/password"
    assert redirect_path(operator.get("/machines/")) == "/auth/welcome/password"
    assert redirect_path(operator.get("/auth/welcome/profile")) == "/auth/welcome/password"

    weak = operator.post("/auth/welcome/password", {"password": "password123",
                                               "confirm": "password123"})
    assert weak.status_code == 422 and "too common" in text_of(weak)
    short = operator.post("/auth/welcome/password", {"password": "abc", "confirm": "abc"})
    assert short.status_code == 422 and "at least" in text_of(short)
    mismatch = operator.post("/auth/welcome/password", {"password": "blue tractor morning",
                                                   "confirm": "blue tractor evening"})
    assert mismatch.status_code == 422 and "differ" in text_of(mismatch)
    same = operator.post("/auth/welcome/password", {"password": one_time, "confirm": one_time})
    assert same.status_code == 422

    done = operator.post("/auth/welcome/password", {"password": "blue tractor morning",
                                               "confirm": "blue tractor morning"})
    assert redirect_path(done) == "/auth/welcome/profile"
    assert redirect_path(operator.get("/")) == "/auth/welcome/profile"

    nameless = operator.post("/auth/welcome/profile", {"full_name": ""})
    assert nameless.status_code == 422
    profile = operator.post("/auth/welcome/profile", {"full_name": "Olga Operator",
                                                 "employee_number": "E-7",
                                                 "phone": "+49 170 1234567", "shift": "early"})
    assert redirect_path(profile) == "/"

    home = text_of(operator.get("/"))
    assert "MINE-1" in home and "OTHER-1" not in home
    machines = text_of(operator.get("/machines/"))
    assert "MINE-1" in machines and "OTHER-1" not in machines
    assert operator.get(f"/machines/{mine.id}").status_code == 200

    # The one-time password no longer works; the new one does.
    again = new_browser()
    assert again.login(username, one_time).status_code == 401
    assert again.login(username, "blue tractor morning").status_code == 302


def test_operator_without_assignment_chooses_workplace_at_first_login(
        logged_in, new_browser, make_line, make_machine):
    line = make_line()
    make_machine(code="ON-LINE", line=line)
    manager, _ = logged_in("production_manager")
    username, one_time = _create_operator(manager)
    operator = new_browser()
    operator.login(username, one_time)
    operator.post("/auth/welcome/password", {"password": "green ladder sunset",
                                        "confirm": "green ladder sunset"})
    page = operator.get("/auth/welcome/profile")
    assert "Choose your line" in text_of(page)
    refused = operator.post("/auth/welcome/profile", {"full_name": "New Person"})
    assert refused.status_code == 422 and "Choose the line" in text_of(refused)
    chosen = operator.post("/auth/welcome/profile", {"full_name": "New Person",
                                                "lines": str(line.id)})
    assert redirect_path(chosen) == "/"
    assert "ON-LINE" in text_of(operator.get("/"))


def test_operator_set_up_by_manager_is_not_asked_for_workplace(logged_in, new_browser,
                                                               make_machine):
    machine = make_machine()
    manager, _ = logged_in("shift_manager")
    username, one_time = _create_operator(manager, machines=str(machine.id))
    operator = new_browser()
    operator.login(username, one_time)
    operator.post("/auth/welcome/password", {"password": "green ladder sunset",
                                        "confirm": "green ladder sunset"})
    assert "Choose your line" not in text_of(operator.get("/auth/welcome/profile"))


# --- managing users ------------------------------------------------------------------------

def test_deactivating_logs_the_user_out(logged_in, new_browser, make_user):
    manager, _ = logged_in("shift_manager")
    target = make_user("operator")
    operator = new_browser()
    operator.login(target.username, PASSWORD)
    assert operator.get("/").status_code == 200

    confirm = manager.get(f"/auth/users/{target.id}/deactivate")
    assert confirm.status_code == 200 and "Deactivate" in text_of(confirm)
    assert manager.post(f"/auth/users/{target.id}/deactivate").status_code == 302
    assert not _reload(target).active
    assert redirect_path(operator.get("/")).startswith("/auth/login")
    assert operator.login(target.username, PASSWORD).status_code == 401

    manager.post(f"/auth/users/{target.id}/reactivate")
    assert _reload(target).active
    assert operator.login(target.username, PASSWORD).status_code == 302


def test_reset_password_shows_a_new_one_time_password(logged_in, new_browser, make_user):
    manager, _ = logged_in("production_manager")
    target = make_user("operator")
    operator = new_browser()
    operator.login(target.username, PASSWORD)
    response = manager.post(f"/auth/users/{target.id}/reset-password")
    assert response.status_code == 200
    username, one_time = shown_credentials(response)
    assert username == target.username
    assert redirect_path(operator.get("/")).startswith("/auth/login")  # logged out everywhere
    fresh = new_browser()
    assert fresh.login(username, PASSWORD).status_code == 401
    assert fresh.login(username, one_time).status_code == 302
    assert redirect_path(fresh.get("/")) == "/auth/welcome/password"


def test_managers_cannot_manage_other_managers(logged_in, make_user):
    manager, _ = logged_in("shift_manager")
    other = make_user("production_manager")
    assert manager.post(f"/auth/users/{other.id}/deactivate").status_code == 403
    assert manager.post(f"/auth/users/{other.id}/reset-password").status_code == 403
    assert _reload(other).active


def test_nobody_deactivates_themselves(logged_in):
    admin, me = logged_in("admin")
    assert admin.post(f"/auth/users/{me.id}/deactivate").status_code == 403


def test_user_list_searches_and_filters_by_role(logged_in, make_user):
    make_user("operator", full_name="Zelda Zimmer")
    make_user("quality", full_name="Zack Quality")
    manager, _ = logged_in("admin")
    page = text_of(manager.get("/auth/users?q=zelda"))
    assert "Zelda Zimmer" in page and "Zack Quality" not in page
    page = text_of(manager.get("/auth/users?role=quality"))
    assert "Zack Quality" in page and "Zelda Zimmer" not in page
    partial = manager.get("/auth/users?q=zack", headers={"HX-Request": "true"})
    assert "<html" not in text_of(partial) and "Zack Quality" in text_of(partial)
    assert "HX-Request" in partial.headers["Vary"]
    empty = text_of(manager.get("/auth/users?q=nobody-like-this"))
    assert "No one matches these filters." in empty


def test_assignments_decide_what_an_operator_sees(logged_in, new_browser, make_user,
                                                  make_line, make_machine):
    line = make_line()
    on_line = make_machine(code="LINE-M", line=line)
    direct = make_machine(code="DIRECT-M")
    hidden = make_machine(code="HIDDEN-M")
    operator_user = make_user("operator")
    manager, _ = logged_in("shift_manager")
    manager.post(f"/auth/users/{operator_user.id}/assignments",
                 {"lines": str(line.id), "machines": str(direct.id), "shift": "late"})
    operator = new_browser()
    operator.login(operator_user.username, PASSWORD)
    page = text_of(operator.get("/machines/"))
    assert "LINE-M" in page and "DIRECT-M" in page and "HIDDEN-M" not in page
    assert operator.get(f"/machines/{on_line.id}").status_code == 200
    assert operator.get(f"/machines/{hidden.id}").status_code == 403


def test_an_unknown_line_in_assignments_is_a_form_error_not_a_crash(logged_in, make_user,
                                                                    make_line):
    line = make_line()
    operator_user = make_user("operator")
    manager, _ = logged_in("shift_manager")
    response = manager.post(f"/auth/users/{operator_user.id}/assignments",
                            {"lines": [str(line.id), "999999"], "shift": "late"})
    assert response.status_code == 422
    assert "is not a valid choice" in text_of(response)
    assert _reload(operator_user).lines == []


def test_profile_edit_and_password_change(logged_in):
    browser, user = logged_in("maintenance")
    saved = browser.post("/auth/profile", {"full_name": "Mia M.", "phone": "0170 555"})
    assert saved.status_code == 302 and _reload(user).full_name == "Mia M."
    bad_phone = browser.post("/auth/profile", {"full_name": "Mia M.", "phone": "call me"})
    assert bad_phone.status_code == 422
    wrong = browser.post("/auth/profile/password", {"current_password": "nope",
                                               "password": "yellow piano rain",
                                               "confirm": "yellow piano rain"})
    assert wrong.status_code == 422 and "not your current password" in text_of(wrong)
    ok = browser.post("/auth/profile/password", {"current_password": PASSWORD,
                                            "password": "yellow piano rain",
                                            "confirm": "yellow piano rain"})
    assert ok.status_code == 302


def test_roles_table_is_consistent():
    assert set(roles.ROLES) > roles.MANAGERS
    assert not roles.CREATABLE_BY_MANAGER & roles.MANAGERS


@pytest.mark.parametrize("old, new", [
    ("/login", "/auth/login"), ("/login?next=/tasks/", "/auth/login?next=/tasks/"),
    ("/users/7/assignments", "/auth/users/7/assignments"), ("/welcome/password",
                                                            "/auth/welcome/password"),
    ("/profile", "/auth/profile")])
def test_login_and_people_pages_moved_under_auth_and_old_urls_follow(client, old, new):
    """Bookmarks and printed links from before the move land on the same page; 308 keeps
    a POST a POST (a login form loaded before the move still logs in)."""
    for method in (client.get, client.post):
        response = method(old)
        assert response.status_code == 308 and response.headers["Location"] == new
