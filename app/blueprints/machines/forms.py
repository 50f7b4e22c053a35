from flask_wtf import FlaskForm
from wtforms import BooleanField, FloatField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.core.forms import MultiCheckboxField

from .models import MACHINE_STATUSES, METRIC_KINDS, METRIC_ROLES

CODE_HELP = "Capital letters, digits and dashes, e.g. CNC-07."


class DepartmentForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=32)],
                       description=CODE_HELP, render_kw={"autocapitalize": "characters"})
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])


class LineForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=32)],
                       description=CODE_HELP, render_kw={"autocapitalize": "characters"})
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    department_id = SelectField("Department", coerce=int, validators=[Optional()])
    operators = MultiCheckboxField("Operators working on this line", coerce=int)


class MachineTypeForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)],
                       description="e.g. CNC Milling, Welding Robot, AGV.")
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])


class MetricForm(FlaskForm):
    key = StringField("Key", validators=[DataRequired(), Length(max=64)],
                      description="As the machine sends it, e.g. spindle_speed.",
                      render_kw={"autocapitalize": "none"})
    label = StringField("Label", validators=[DataRequired(), Length(max=120)],
                        description="As people read it, e.g. Spindle speed.")
    unit = StringField("Unit", validators=[Optional(), Length(max=32)],
                       description="e.g. °C, rpm, bar, %.")
    kind = SelectField("Kind", choices=[(k, k.capitalize()) for k in METRIC_KINDS])
    normal_min = FloatField("Normal minimum", validators=[Optional()])
    normal_max = FloatField("Normal maximum", validators=[Optional()])
    role = SelectField("Special meaning", choices=[("", "None"), *list(METRIC_ROLES)],
                       validators=[Optional()])


class MachineForm(FlaskForm):
    code = StringField("Machine code", validators=[DataRequired(), Length(max=32)],
                       description=CODE_HELP, render_kw={"autocapitalize": "characters"})
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    machine_type_id = SelectField("Machine type", coerce=int,
                                  validators=[DataRequired("Choose a machine type.")])
    department_id = SelectField("Department", coerce=int, validators=[Optional()])
    line_id = SelectField("Production line", coerce=int, validators=[Optional()])
    location = StringField("Location", validators=[Optional(), Length(max=120)],
                           description="Where on the floor, e.g. Hall B, bay 4.")
    status = SelectField("Status", choices=list(MACHINE_STATUSES))
    vendor_id = StringField("Vendor machine id", validators=[Optional(), Length(max=120)],
                            description="The id the vendor's system uses, if any.")
    data_url = StringField("Data URL for polling", validators=[Optional(), Length(max=500)],
                           render_kw={"inputmode": "url", "autocapitalize": "none"})
    polling_enabled = BooleanField("Poll this machine every 20 seconds")
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=4000)])
    operators = MultiCheckboxField("Operators assigned directly", coerce=int)
