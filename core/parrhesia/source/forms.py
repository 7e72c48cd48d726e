"""Plain (non-upload) forms of the source interface; CSRF comes with FlaskForm."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

__all__ = ["LoginForm", "LogoutForm", "EscalationForm"]


class LoginForm(FlaskForm):
    codename = PasswordField(
        _l("Your codename"),
        validators=[DataRequired(message=_l("Enter your codename.")), Length(max=512)],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )


class LogoutForm(FlaskForm):
    pass


class EscalationForm(FlaskForm):
    """A source asking for the report to go to the next independent body."""

    reason = SelectField(
        _l("Why?"),
        choices=[
            SelectChoice("no-feedback", _l("I have had no feedback within the legal time limit")),
            SelectChoice("imminent-danger", _l("Someone is in immediate danger")),
            SelectChoice("collusion", _l("I believe a body handling my report is involved or colluding")),
        ],
        validators=[DataRequired()],
    )
    explanation = TextAreaField(
        _l("Explain if you wish (encrypted)"), validators=[Length(max=20000)], render_kw={"rows": 4}
    )
