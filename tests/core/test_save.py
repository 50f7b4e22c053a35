"""core.forms.save(): a POST view's one commit, or a rollback with the refusal."""

from flask_wtf import FlaskForm
from wtforms import StringField

from app.core.errors import ValidationFailed
from app.core.extensions import db
from app.core.forms import save


class NameForm(FlaskForm):
    class Meta:
        csrf = False

    name = StringField()


def test_a_saved_change_is_committed_and_returns_what_the_service_returned(make_user):
    user = make_user()

    def rename():
        user.full_name = "Ada Lovelace"
        return "renamed"

    saved = save(rename)
    assert saved and saved.value == "renamed" and saved.error is None
    db.session.expire_all()
    assert user.full_name == "Ada Lovelace"


def test_a_refusal_rolls_back_and_says_why(make_user):
    user = make_user(full_name="Grace Hopper")

    def refuse():
        user.full_name = "Someone else"
        raise ValidationFailed("That name is taken.")

    saved = save(refuse)
    assert not saved
    assert saved.message == "That name is taken."
    assert user.full_name == "Grace Hopper"


def test_a_refusal_lands_on_the_form_fields(app):
    with app.test_request_context(method="POST", data={"name": "x"}):
        form = NameForm()

        def refuse():
            raise ValidationFailed({"name": "Too short.", "": "Nothing was saved."})

        saved = save(refuse, form)
    assert not saved
    assert form.name.errors == ["Too short."]
    assert form.form_errors == ["Nothing was saved."]
