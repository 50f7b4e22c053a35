"""Alert and rule forms. The rule service checks kinds, scopes and thresholds itself, so
its messages (which know the metric) are the ones people see."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from .models import CONDITIONS, RULE_KINDS, SEVERITIES
from .rules import PLACEHOLDERS

PLACEHOLDER_HELP = ("Placeholders: " + ", ".join("{" + p + "}" for p in PLACEHOLDERS)
                    + ". Empty: a standard message for the kind of rule.")


class RuleForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired("Give the rule a name."),
                                           Length(max=120)])
    kind = SelectField("Kind", choices=list(RULE_KINDS), validate_choice=False)
    machine_type_id = SelectField("Machine type", coerce=int, validate_choice=False,
                                  description="Every machine of this type.")
    machine_id = SelectField("Or one machine", coerce=int, validate_choice=False,
                             description="Only this machine (leave the type empty).")
    metric_key = SelectField("Metric", validate_choice=False,
                             description="Threshold and sensor-fault rules watch this metric; "
                                         "battery rules use the type's battery metric.")
    condition = SelectField("Condition", choices=list(CONDITIONS), validate_choice=False)
    threshold = StringField("Threshold", validators=[Length(max=120)],
                            description="A number, true/false or a text, as the metric is. "
                                        "Battery: the low level.")
    sustained_seconds = IntegerField(
        "Sustained for (seconds)", default=0,
        validators=[InputRequired("Give 0 for at once, or a number of seconds."),
                    NumberRange(0, 86_400, "Between 0 and 86400 seconds.")],
        description="0 raises at once; otherwise the condition must hold this long.")
    offline_intervals = IntegerField(
        "Offline after (poll intervals)", validators=[Optional(), NumberRange(1, 10_000,
                                                      "At least 1 poll interval.")],
        description="Offline rules: no reading for this many poll intervals. Machines that "
                    "never reported are not counted as offline.")
    severity = SelectField("Severity", choices=list(SEVERITIES), default="warning",
                           validate_choice=False)
    message_template = StringField("Message", validators=[Length(max=300)],
                                   description=PLACEHOLDER_HELP)
    create_task = BooleanField("Create a maintenance task when raised")
    enabled = BooleanField("Enabled", default=True)


class CommentForm(FlaskForm):
    text = TextAreaField("Comment", validators=[DataRequired("Write a comment first."),
                                                Length(max=2000)], render_kw={"rows": 2})


class CloseForm(FlaskForm):
    note = TextAreaField("Note (optional)", validators=[Length(max=2000)],
                         render_kw={"rows": 2})
