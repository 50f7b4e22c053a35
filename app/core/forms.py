"""Form pieces shared by every domain."""

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from .errors import ValidationFailed
from .extensions import db


class MultiCheckboxField(SelectMultipleField):
    """Checkboxes instead of a multi-select: usable with a finger on a tablet."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form):
        # An empty choice list is fine (no lines yet); unknown ids are still refused.
        if self.data and self.choices is not None:
            known = {value for value, _ in self.choices}
            for value in self.data:
                if value not in known:
                    # ValidationError, not ValueError: WTForms 3 turns only the
                    # former into a form error (a ValueError here was a 500).
                    raise ValidationError(self.gettext("'%(value)s' is not a valid choice.")
                                          % {"value": value})


class ConfirmForm(FlaskForm):
    """A POST with nothing but the CSRF token, for confirmed actions."""


def form_errors_to_fields(form, errors):
    """Attach a service's ValidationFailed errors to the matching form fields."""
    for name, message in errors.items():
        field = getattr(form, name, None)
        if field is not None and hasattr(field, "errors"):
            field.errors = [*list(field.errors), message]
        else:
            form.form_errors.append(message)


class Saved:
    """What `save()` did: true when it committed. `value` is what the service returned;
    `error` the ValidationFailed that rolled it back."""

    def __init__(self, ok, value=None, error=None):
        self.ok, self.value, self.error = ok, value, error

    def __bool__(self):
        return self.ok

    @property
    def message(self):
        """The refusal in words, for a flash or an error line."""
        return " ".join(self.error.errors.values()) if self.error else ""


def save(action, form=None):
    """The one way a POST view changes data: run `action` (a service call), commit once.

    A ValidationFailed rolls back (files written for the request go too) and lands on
    `form`'s fields when there is a form, so the view shows it again with status 422 and
    the typed values; without one the view flashes `saved.message`.
    """
    try:
        value = action()
    except ValidationFailed as exc:
        db.session.rollback()
        if form is not None:
            form_errors_to_fields(form, exc.errors)
        return Saved(False, error=exc)
    db.session.commit()
    return Saved(True, value)


def save_form(form, action):
    """Validate the form, then `save()`: true when saved, false when the form shows again."""
    if not form.validate_on_submit():
        return Saved(False)
    return save(action, form)


def form_status(form):
    """422 for a submitted form that is shown again, 200 for a fresh one."""
    return 422 if form.is_submitted() else 200
