from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FloatField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from app.core.forms import MultiCheckboxField

from .models import EXCEPTION_KINDS, LOSSES

WEEKDAYS = ((1, "Mon"), (2, "Tue"), (3, "Wed"), (4, "Thu"), (5, "Fri"), (6, "Sat"), (7, "Sun"))


class PatternForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)],
                       description="e.g. 3 × 8 weekdays, 2 × 12 rota.")
    cycle_days = IntegerField("Cycle length in days", default=7,
                              validators=[InputRequired("Give the cycle's length.")],
                              description="7 for a weekly pattern; 4, 8, 14 ... for a rota.")
    cycle_start = DateField("Day 1 of the rota", validators=[Optional()],
                            description="Only for rotas: a date that is day 1 of the cycle. "
                                        "Leave empty for a weekly pattern (day 1 = Monday).")
    description = TextAreaField("Notes", validators=[Optional(), Length(max=2000)])


class ShiftForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=60)],
                       description="e.g. Early, Late, Night.")
    starts = TimeField("Starts", validators=[InputRequired("Give the start time.")])
    ends = TimeField("Ends", validators=[InputRequired("Give the end time.")],
                     description="Plant time. An end before the start runs past midnight.")
    days = MultiCheckboxField("Days", coerce=int)


class BreakForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=60)],
                       description="e.g. Lunch, Team meeting.")
    starts = TimeField("Starts", validators=[InputRequired("Give the start time.")])
    ends = TimeField("Ends", validators=[InputRequired("Give the end time.")])


class AssignmentForm(FlaskForm):
    line_id = SelectField("Line", coerce=int, validators=[DataRequired("Pick a line.")])
    pattern_id = SelectField("Shift pattern", coerce=int,
                             validators=[DataRequired("Pick a pattern.")])
    effective_from = DateField("From", validators=[InputRequired("Give the first day.")],
                               description="The line works to this pattern from this day "
                                           "until its next assignment.")


class ExceptionForm(FlaskForm):
    kind = SelectField("Kind", choices=list(EXCEPTION_KINDS))
    name = StringField("Name", validators=[DataRequired(), Length(max=120)],
                       description="e.g. Christmas, Stock-taking, Saturday overtime.")
    line_id = SelectField("Line", coerce=int, validators=[Optional()])
    first_day = DateField("First day", validators=[InputRequired("Give the first day.")])
    last_day = DateField("Last day", validators=[InputRequired("Give the last day.")])
    starts = TimeField("Added time from", validators=[Optional()],
                       description="Overtime and extra shifts only: the time added each day.")
    ends = TimeField("Added time until", validators=[Optional()])


class ProductForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired(), Length(max=40)],
                       description="The article number.",
                       render_kw={"autocapitalize": "characters"})
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])
    active = BooleanField("Still made", default=True)


class CycleForm(FlaskForm):
    place = SelectField("Line or machine", validators=[DataRequired("Pick a line or machine.")])
    seconds = FloatField("Ideal cycle time (seconds a piece)", validators=[Optional()])
    per_hour = FloatField("or ideal rate (pieces an hour)", validators=[Optional()])


class CategoryForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)],
                       description="e.g. Mechanical, Material, Quality, Planned.")


class ReasonForm(FlaskForm):
    category_id = SelectField("Category", coerce=int,
                              validators=[DataRequired("Pick a category.")])
    name = StringField("Reason", validators=[DataRequired(), Length(max=80)])
    loss = SelectField("Big loss", choices=list(LOSSES),
                       description="Which of the six big losses this reason is. A reason "
                                   "with a reject loss is offered for rejected pieces.")
    planned = BooleanField("Planned stop (takes time off planned production instead of "
                           "counting as downtime)")
    active = BooleanField("In use", default=True)
