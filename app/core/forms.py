"""Form pieces shared by every domain."""

from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget


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


def save_form(form, save):
    """Validate, run the service, commit: True when saved.

    A service's ValidationFailed rolls back and lands on the form's fields, so the page can
    show the form again (status 422) with the typed values.
    """
    from .errors import ValidationFailed
    from .extensions import db

    if not form.validate_on_submit():
        return False
    try:
        save()
    except ValidationFailed as exc:
        db.session.rollback()
        form_errors_to_fields(form, exc.errors)
        return False
    db.session.commit()
    return True


def form_status(form):
    """422 for a submitted form that is shown again, 200 for a fresh one."""
    return 422 if form.is_submitted() else 200
