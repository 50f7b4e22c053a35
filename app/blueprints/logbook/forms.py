"""Logbook forms. Choices the services check (category, priority, status) are not
validated here a second time: the service's message is the one people see."""

from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .models import CATEGORIES, PRIORITIES

RUNNABLE_CHOICES = [("yes", "Yes, it still runs"), ("no", "No, it is stopped")]
DESCRIBE = "Describe the problem: what happened, what you saw or heard."
PHOTO_ATTRS = {"accept": "image/*,video/*", "capture": "environment", "multiple": True}


def photo_field(label="Photos or videos"):
    return MultipleFileField(label, render_kw=PHOTO_ATTRS,
                             description="Up to 10 files, 10 MB each: JPG, PNG, GIF, MP4, "
                                         "MOV or AVI.")


class QuickReportForm(FlaskForm):
    """The one-screen form behind a machine's QR label."""

    category = RadioField("What kind of problem?", choices=list(CATEGORIES),
                          validate_choice=False,
                          validators=[InputRequired("Choose what kind of problem it is.")])
    description = TextAreaField("What happened?",
                                validators=[DataRequired(DESCRIBE), Length(max=10_000)],
                                render_kw={"rows": 3})
    photo = photo_field("Photo of the problem or the alarm screen")
    runnable = RadioField("Can the machine still run?", choices=RUNNABLE_CHOICES,
                          validate_choice=False,
                          validators=[InputRequired("Say whether the machine can run.")])
    # Where the report was opened from (an alert, andon call or task), kept through the form.
    source = HiddenField()
    ref = HiddenField()


class IssueForm(FlaskForm):
    machine_id = SelectField("Machine", coerce=int, validate_choice=False,
                             validators=[InputRequired("Choose the machine.")])
    category = RadioField("Category", choices=list(CATEGORIES), validate_choice=False,
                          validators=[InputRequired("Choose what kind of problem it is.")])
    description = TextAreaField("Description",
                                validators=[DataRequired(DESCRIBE), Length(max=10_000)])
    alarm_code = StringField("Alarm code", validators=[Optional(), Length(max=32)],
                             description="As the control shows it, e.g. SV0401 or AL-012.",
                             render_kw={"autocapitalize": "characters"})
    title = StringField("Title", validators=[Optional(), Length(max=200)],
                        description="Leave empty for one made from the category and "
                                    "description.")
    priority = SelectField("Priority", choices=list(PRIORITIES), default="medium",
                           validate_choice=False)
    runnable = RadioField("Can the machine still run?", choices=RUNNABLE_CHOICES,
                          default="yes", validate_choice=False,
                          validators=[InputRequired("Say whether the machine can run.")])
    photo = photo_field()
    source = HiddenField()
    ref = HiddenField()


class EditIssueForm(FlaskForm):
    title = StringField("Title", validators=[Optional(), Length(max=200)],
                        description="Leave empty for one made from the category and "
                                    "description.")
    category = SelectField("Category", choices=list(CATEGORIES), validate_choice=False)
    priority = SelectField("Priority", choices=list(PRIORITIES), validate_choice=False)
    alarm_code = StringField("Alarm code", validators=[Optional(), Length(max=32)],
                             render_kw={"autocapitalize": "characters"})
    description = TextAreaField("Description",
                                validators=[DataRequired(DESCRIBE), Length(max=10_000)],
                                render_kw={"rows": 6})


class StatusForm(FlaskForm):
    status = HiddenField()
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=2000)],
                         render_kw={"rows": 2, "placeholder": "e.g. waiting for a spare belt"})
    confirmed = HiddenField()


class RunnableForm(FlaskForm):
    runnable = HiddenField()


class AssignForm(FlaskForm):
    assignee_id = SelectField("Assign to", coerce=int, validate_choice=False)


class PartForm(Form):
    name = StringField("Part", validators=[Optional(), Length(max=120)])
    quantity = StringField("Qty", render_kw={"inputmode": "decimal"})
    unit_cost = StringField("Unit cost", render_kw={"inputmode": "decimal"})


class RemedyForm(FlaskForm):
    description = TextAreaField("What was done?",
                                validators=[DataRequired("Say what was done."),
                                            Length(max=10_000)], render_kw={"rows": 3})
    minutes_spent = StringField("Minutes spent", render_kw={"inputmode": "numeric"})
    performed_at = DateTimeLocalField("Done at (UTC)", validators=[Optional()],
                                      description="Leave empty for now.")
    parts = FieldList(FormField(PartForm), min_entries=3, max_entries=20)
    photo = photo_field()
