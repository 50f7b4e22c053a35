from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from app.core.forms import MultiCheckboxField

from . import roles

PHONE = Regexp(r"^[0-9 +()./-]{4,32}$", message="Use digits, spaces and + ( ) - only.")


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired(), Length(max=64)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none",
                                      "autofocus": True})
    password = PasswordField("Password", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "current-password"})
    next = HiddenField()


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=256)],
                             render_kw={"autocomplete": "new-password"})
    confirm = PasswordField("Repeat the new password",
                            validators=[DataRequired(), EqualTo("password",
                                                                "The two passwords differ.")],
                            render_kw={"autocomplete": "new-password"})


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField("Current password", validators=[DataRequired()],
                                     render_kw={"autocomplete": "current-password"})


class ProfileForm(FlaskForm):
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)],
                            render_kw={"autocomplete": "name"})
    employee_number = StringField("Employee number", validators=[Optional(), Length(max=32)])
    phone = StringField("Phone", validators=[Optional(), PHONE],
                        render_kw={"autocomplete": "tel", "inputmode": "tel"})
    shift = SelectField("Shift", choices=roles.SHIFTS, validators=[Optional()])
    lines = MultiCheckboxField("Lines I work on", coerce=int)
    machines = MultiCheckboxField("Machines I work on", coerce=int)


class UserCreateForm(FlaskForm):
    role = SelectField("Role", validators=[DataRequired()])
    full_name = StringField("Full name (optional; they can fill it in)",
                            validators=[Optional(), Length(max=120)])
    employee_number = StringField("Employee number", validators=[Optional(), Length(max=32)])
    shift = SelectField("Shift", choices=roles.SHIFTS, validators=[Optional()])
    lines = MultiCheckboxField("Lines", coerce=int)
    machines = MultiCheckboxField("Machines", coerce=int)


class AssignmentForm(FlaskForm):
    shift = SelectField("Shift", choices=roles.SHIFTS, validators=[Optional()])
    lines = MultiCheckboxField("Lines", coerce=int)
    machines = MultiCheckboxField("Machines", coerce=int)


class RoleForm(FlaskForm):
    role = SelectField("Role", validators=[DataRequired()])


class ApiKeyForm(FlaskForm):
    name = StringField("Name (what uses the key)", validators=[DataRequired(), Length(max=80)],
                       render_kw={"placeholder": "MES line 1"})
    role = SelectField("Role", validators=[DataRequired()])
