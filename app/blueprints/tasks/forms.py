"""Task and plan forms. Choices the services check (priority, status, numbers) are not
validated here a second time: the service's message is the one people see."""

from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from app.core.forms import MultiCheckboxField

from .models import TASK_PRIORITIES

NUMBER = {"inputmode": "decimal"}


class PeopleField(MultiCheckboxField):
    """Assignee checkboxes; the service checks who may be chosen and says so in words."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.type = "MultiCheckboxField"  # drawn like every other checkbox list

    def pre_validate(self, form):
        pass


class TaskForm(FlaskForm):
    machine_id = SelectField("Machine", coerce=int, validate_choice=False,
                             validators=[InputRequired("Choose the machine.")])
    title = StringField("Title", validators=[Length(max=200)],
                        render_kw={"placeholder": "e.g. Replace the spindle belt"})
    description = TextAreaField("What needs doing", validators=[Length(max=10_000)],
                                render_kw={"rows": 4})
    priority = SelectField("Priority", choices=list(TASK_PRIORITIES), default="medium",
                           validate_choice=False)
    due_at = DateTimeLocalField("Due (UTC)", validators=[Optional()],
                                description="Leave empty: critical 4 hours, high 1 day, "
                                            "medium 3 days, low 7 days.")
    assignees = PeopleField("Assignees", coerce=int,
                                   description="Leave all unticked for the machine's "
                                               "managers, operators and maintenance people.")


class EditTaskForm(FlaskForm):
    title = StringField("Title", validators=[Length(max=200)])
    description = TextAreaField("What needs doing", validators=[Length(max=10_000)],
                                render_kw={"rows": 5})
    priority = SelectField("Priority", choices=list(TASK_PRIORITIES), validate_choice=False)
    due_at = DateTimeLocalField("Due (UTC)", validators=[InputRequired("Give a due date.")])
    assignees = PeopleField("Assignees", coerce=int)


class StatusForm(FlaskForm):
    status = HiddenField()


class PlanForm(FlaskForm):
    machine_id = SelectField("Machine", coerce=int, validate_choice=False,
                             validators=[InputRequired("Choose the machine.")])
    title = StringField("Title", validators=[Length(max=200)],
                        render_kw={"placeholder": "e.g. Lubricate the guideways"})
    description = TextAreaField("What the work is", validators=[Length(max=10_000)],
                                render_kw={"rows": 3})
    priority = SelectField("Priority of its tasks", choices=list(TASK_PRIORITIES),
                           default="medium", validate_choice=False)
    every_days = StringField("Every … days", render_kw=NUMBER,
                             description="Calendar interval, e.g. 30.")
    every_running_hours = StringField("Every … running hours", render_kw=NUMBER,
                                      description="Needs a “Running flag” metric on the "
                                                  "machine type.")
    every_parts = StringField("Every … parts", render_kw=NUMBER,
                              description="Needs a “Part counter” metric on the machine type.")
    days_to_finish = StringField("Days to finish", default="3", render_kw=NUMBER,
                                 description="The task is due this many days after it is "
                                             "made.")
