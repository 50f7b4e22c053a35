"""Forms of the andon screens and the escalation ladder page."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from app.blueprints.auth import roles
from app.core.forms import MultiCheckboxField

from .models import ANDON_KINDS, ANDON_PRIORITIES, ESCALATION_STAGES


class RoleChecks(MultiCheckboxField):
    """Role checkboxes; an unknown role is a form error (the shared field raises a bare
    ValueError there, which WTForms does not catch)."""

    def pre_validate(self, form):
        unknown = [v for v in self.data or [] if v not in roles.ROLES]
        if unknown:
            raise ValidationError(f"'{unknown[0]}' is not a valid choice.")


class RaiseForm(FlaskForm):
    """The kind comes from the big button pressed (its name="kind" value)."""

    kind = SelectField("What help is needed", choices=ANDON_KINDS,
                       validators=[InputRequired("Press one of the buttons: what is needed?")])
    priority = SelectField("Priority", choices=[("", "Usual for the kind"), *ANDON_PRIORITIES],
                           validators=[Optional()],
                           description="Safety calls are critical, stoppages high, others "
                                       "medium unless you choose.")
    note = TextAreaField("Note (optional)", validators=[Optional(), Length(max=1000)],
                         render_kw={"rows": 2,
                                    "placeholder": "What happened, what you need"})
    photo = FileField("Photo (optional)", description="JPEG, PNG or GIF, up to 10 MB.")


class ResolveForm(FlaskForm):
    note = TextAreaField("What was done (optional)", validators=[Optional(), Length(max=2000)],
                         render_kw={"rows": 3})


class LevelForm(FlaskForm):
    priority = SelectField("Priority", choices=ANDON_PRIORITIES)
    stage = SelectField("Fires when the call is", choices=ESCALATION_STAGES)
    level = IntegerField("Level", validators=[InputRequired("Give the level number."),
                                              NumberRange(1, 9, "From 1 to 9.")])
    after_minutes = IntegerField("After minutes", validators=[
        InputRequired("Give the minutes."),
        NumberRange(min=1, message="Minutes must be more than 0.")],
        description="Counted from when the call was raised.")
    roles = RoleChecks("Notify these roles",
                      choices=[(r, roles.ROLE_LABELS[r]) for r in roles.ROLES])
