from urllib.parse import urlsplit

from flask import abort, current_app, flash, make_response, redirect, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.forms import ConfirmForm, form_status, save, save_form
from app.core.htmx import render_page

from . import bp, keys, roles, services
from .access import managers_only, roles_required
from .forms import (
    ApiKeyForm,
    AssignmentForm,
    ChangePasswordForm,
    LoginForm,
    NewPasswordForm,
    ProfileForm,
    RoleForm,
    UserCreateForm,
)
from .models import ApiKey, User
from .workplace import chosen_workplace, offer_workplace


def _safe_next(target):
    parts = urlsplit(target or "")
    if target and not parts.scheme and not parts.netloc and target.startswith("/"):
        return target
    return url_for("dashboard.home")


def _no_store(response):
    """Pages that show a password must not be kept by the browser or a proxy."""
    response.headers["Cache-Control"] = "no-store"
    return response


# --- login -----------------------------------------------------------------------------------

@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.username.data, form.password.data,
                                         request.remote_addr or "unknown")
        except (services.LoginThrottled, ValidationFailed) as exc:
            user = None
            form.form_errors.append(str(exc))
        else:
            if user is None:
                form.form_errors.append("Wrong username or password.")
        db.session.commit()
        if user is not None:
            session.clear()
            session.permanent = True
            login_user(user)
            return redirect(_safe_next(form.next.data))
        status = 401 if not form.form_errors[0].startswith("Too many") else 429
    elif form.is_submitted():
        status = 422
    return render_page("auth/login.html", status=status, form=form)


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = ConfirmForm()
    if request.method == "POST" and form.validate_on_submit():
        logout_user()
        session.clear()
        flash("You are logged out.", "info")
        return redirect(url_for("auth.login"))
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_page("confirm.html", form=form, title="Log out?",
                       message=f"You are logged in as {current_user.username}.",
                       action=url_for("auth.logout"), cancel=url_for("dashboard.home"),
                       button="Log out")


# --- first login -----------------------------------------------------------------------------

@bp.route("/welcome/password", methods=["GET", "POST"])
@login_required
def first_password():
    if not current_user.must_change_password:
        return redirect(url_for("auth.first_profile"))
    form = NewPasswordForm()
    if save_form(form, lambda: services.set_password(current_user, form.password.data)):
        _stay_logged_in()
        flash("Password set. Now tell us who you are.", "success")
        return redirect(url_for("auth.first_profile"))
    return render_page("auth/first_password.html", status=form_status(form), form=form)


def _profile_form(user, obj=None):
    form = ProfileForm(obj=obj)
    offer_workplace(form)
    if request.method == "GET" and obj is not None:
        form.lines.data = [ln.id for ln in user.lines]
        form.machines.data = [m.id for m in user.machines]
    return form


def _asks_for_workplace(user):
    """Operators whose manager set no line or machine choose theirs at first login."""
    return user.is_machine_bound and not user.lines and not user.machines


def _save_profile(form, user, with_workplace):
    lines, machines = chosen_workplace(form) if with_workplace else (None, None)
    services.update_profile(
        user, form.full_name.data, form.employee_number.data, form.phone.data,
        form.shift.data, lines=lines, machines=machines)


@bp.route("/welcome/profile", methods=["GET", "POST"])
@login_required
def first_profile():
    if current_user.must_change_password:
        return redirect(url_for("auth.first_password"))
    if current_user.profile_completed_at is not None:
        return redirect(url_for("dashboard.home"))
    workplace = _asks_for_workplace(current_user)
    form = _profile_form(current_user, obj=current_user)
    if form.validate_on_submit():
        if workplace and not (form.lines.data or form.machines.data):
            form.lines.errors = ["Choose the line or the machines you work on."]
        elif save(lambda: _save_profile(form, current_user, workplace), form):
            flash(f"Welcome, {current_user.display_name}.", "success")
            return redirect(url_for("dashboard.home"))
    status = form_status(form)
    return render_page("auth/first_profile.html", status=status, form=form,
                       workplace=workplace)


def _stay_logged_in():
    """A new password ends every session of the user; this one carries on, renewed."""
    login_user(current_user._get_current_object())


# --- my profile ------------------------------------------------------------------------------

@bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = _profile_form(current_user, obj=current_user)
    if save_form(form, lambda: _save_profile(form, current_user, with_workplace=False)):
        flash("Profile saved.", "success")
        return redirect(url_for("auth.profile"))
    return render_page("auth/profile.html", status=form_status(form), form=form)


@bp.route("/profile/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if save_form(form, lambda: services.set_password(current_user, form.password.data,
                                                     form.current_password.data)):
        _stay_logged_in()
        flash("Password changed. Your other logins and API tokens have ended.", "success")
        return redirect(url_for("auth.profile"))
    return render_page("auth/change_password.html", status=form_status(form), form=form)


# --- user administration ---------------------------------------------------------------------

@bp.get("/users")
@managers_only
def users():
    filters = {"query": request.args.get("q", "").strip(),
               "role": request.args.get("role", ""),
               "status": request.args.get("status", "active")}
    if filters["role"] and filters["role"] not in roles.ROLES:
        filters["role"] = ""
    page = db.paginate(services.search_users(**filters),
                       per_page=current_app.config["PAGE_SIZE"], error_out=False)
    return render_page("auth/users.html", "auth/_users_list.html", page=page,
                       filters=filters, roles=roles)


@bp.route("/users/new", methods=["GET", "POST"])
@managers_only
def new_user():
    form = UserCreateForm()
    form.role.choices = [(r, roles.ROLE_LABELS[r]) for r in
                         roles.creatable_roles(current_user.role)]
    if request.method == "GET":
        form.role.data = roles.OPERATOR
    offer_workplace(form)
    requested = request.form.get("role", "")
    if request.method == "POST" and requested in roles.ROLES \
            and not roles.can_create(current_user.role, requested):
        abort(403)
    if request.method == "POST" and requested not in roles.ROLES:
        form.validate_on_submit()
        form.role.errors = [f"Unknown role '{requested}'. Choose one from the list."]
    elif saved := save_form(form, lambda: _create_user(form)):
        user, password = saved.value
        return _no_store(make_response(render_page(
            "auth/credentials.html", user=user, password=password, created=True)))
    status = form_status(form)
    return render_page("auth/user_form.html", status=status, form=form)


def _create_user(form):
    """The new user and their one-time password."""
    lines, machines = chosen_workplace(form)
    return services.create_user(
        current_user, form.role.data, full_name=form.full_name.data or "",
        shift=form.shift.data, employee_number=form.employee_number.data,
        lines=lines, machines=machines)


def load_user(user_id):
    return db.get_or_404(User, user_id)


@bp.get("/users/<int:user_id>")
@managers_only
def show_user(user_id):
    user = load_user(user_id)
    return render_page("auth/user_show.html", user=user,
                       manageable=roles.can_manage_user(current_user, user))


@bp.route("/users/<int:user_id>/assignments", methods=["GET", "POST"])
@managers_only
def edit_assignments(user_id):
    user = load_user(user_id)
    if not roles.can_manage_user(current_user, user):
        abort(403)
    form = AssignmentForm(obj=user)
    offer_workplace(form)
    if request.method == "GET":
        form.lines.data = [ln.id for ln in user.lines]
        form.machines.data = [m.id for m in user.machines]
        form.shift.data = user.shift or ""
    if save_form(form, lambda: services.update_assignments(
            current_user, user, *chosen_workplace(form), form.shift.data)):
        flash(f"Assignments of {user.username} saved.", "success")
        return redirect(url_for("auth.show_user", user_id=user.id))
    status = form_status(form)
    return render_page("auth/assignments.html", status=status, form=form, user=user)


def _confirmed_action(user, title, message, button, action, danger=False):
    """GET shows a confirmation page; a confirmed POST runs `action` and commits."""
    if not roles.can_manage_user(current_user, user):
        abort(403)
    form = ConfirmForm()
    if saved := save_form(form, action):
        return saved.value
    return render_page("confirm.html", form=form, title=title, message=message,
                       action=request.path, button=button, danger=danger,
                       cancel=url_for("auth.show_user", user_id=user.id))


# active → (title, what it means, button, flash)
ACTIVATION = {
    False: ("Deactivate {name}?", "They are logged out at once and cannot log in until "
            "reactivated. Their history stays.", "Deactivate",
            "{name} is deactivated and logged out everywhere."),
    True: ("Reactivate {name}?", "They can log in again with their password.", "Reactivate",
           "{name} can log in again."),
}


def _set_active(user_id, active):
    user = load_user(user_id)
    title, message, button, done = ACTIVATION[active]

    def action():
        services.set_active(current_user, user, active)
        flash(done.format(name=user.username), "success")
        return redirect(url_for("auth.show_user", user_id=user.id))
    return _confirmed_action(user, title.format(name=user.username), message, button, action,
                             danger=not active)


@bp.route("/users/<int:user_id>/deactivate", methods=["GET", "POST"])
@managers_only
def deactivate_user(user_id):
    return _set_active(user_id, False)


@bp.route("/users/<int:user_id>/reactivate", methods=["GET", "POST"])
@managers_only
def reactivate_user(user_id):
    return _set_active(user_id, True)


@bp.route("/users/<int:user_id>/reset-password", methods=["GET", "POST"])
@managers_only
def reset_password(user_id):
    user = load_user(user_id)

    def action():
        password = services.reset_password(current_user, user)
        return _no_store(make_response(render_page(
            "auth/credentials.html", user=user, password=password, created=False)))
    return _confirmed_action(user, f"Reset the password of {user.username}?",
                             "A new one-time password is made and shown once; they are "
                             "logged out and must choose a new password at their next "
                             "login.", "Reset password", action, danger=True)


@bp.route("/users/<int:user_id>/role", methods=["GET", "POST"])
@managers_only
def change_role(user_id):
    user = load_user(user_id)
    if not roles.can_manage_user(current_user, user):
        abort(403)
    form = RoleForm()
    form.role.choices = [(r, roles.ROLE_LABELS[r]) for r in
                         roles.creatable_roles(current_user.role)]
    if request.method == "GET":
        form.role.data = user.role
    if save_form(form, lambda: services.change_role(current_user, user, form.role.data)):
        flash(f"{user.username} is now {user.role_label}; they log in again.", "success")
        return redirect(url_for("auth.show_user", user_id=user.id))
    return render_page("auth/role.html", status=form_status(form), form=form, user=user)


# --- API keys (administrators) ---------------------------------------------------------------

def _key_form():
    form = ApiKeyForm()
    form.role.choices = [(r, roles.ROLE_LABELS[r]) for r in keys.KEY_ROLES]
    if request.method == "GET":
        form.role.data = roles.VIEWER
    return form


@bp.get("/api-keys")
@roles_required(roles.ADMIN)
def api_keys():
    page = db.paginate(keys.keys_query(), per_page=current_app.config["PAGE_SIZE"],
                       error_out=False)
    return render_page("auth/api_keys.html", "auth/_api_keys_list.html", page=page)


@bp.route("/api-keys/new", methods=["GET", "POST"])
@roles_required(roles.ADMIN)
def new_api_key():
    form = _key_form()
    if saved := save_form(form, lambda: keys.create_api_key(current_user, form.name.data,
                                                            form.role.data)):
        key, secret = saved.value
        return _no_store(make_response(render_page("auth/api_key_created.html", key=key,
                                                   secret=secret)))
    return render_page("auth/api_key_form.html", status=form_status(form), form=form)


@bp.route("/api-keys/<int:key_id>/revoke", methods=["GET", "POST"])
@roles_required(roles.ADMIN)
def revoke_api_key(key_id):
    key = db.get_or_404(ApiKey, key_id)
    if key.revoked_at is not None:
        flash(f"The key \"{key.name}\" is revoked already.", "info")
        return redirect(url_for("auth.api_keys"))
    form = ConfirmForm()
    if save_form(form, lambda: keys.revoke_api_key(current_user, key)):
        flash(f"The key \"{key.name}\" is revoked; calls with it fail from now on.",
              "success")
        return redirect(url_for("auth.api_keys"))
    return render_page("confirm.html", form=form, title=f"Revoke the key \"{key.name}\"?",
                       message="Whatever uses it is refused from the next call on. This "
                               "cannot be undone: make a new key to replace it.",
                       action=request.path, button="Revoke key", danger=True,
                       cancel=url_for("auth.api_keys"))
