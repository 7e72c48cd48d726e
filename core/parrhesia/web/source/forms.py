"""Plain (non-upload) forms of the source interface; CSRF comes with FlaskForm."""

from flask_babel import lazy_gettext as _l
from wtforms import DateField, PasswordField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from parrhesia.web.security import StorableForm

__all__ = ["LoginForm", "LogoutForm", "EscalationForm", "ProtectionForm", "ConsentForm"]


class LoginForm(StorableForm):
    codename = PasswordField(
        _l("Your codename"),
        validators=[DataRequired(message=_l("Enter your codename.")), Length(max=512)],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )


class LogoutForm(StorableForm):
    pass


class EscalationForm(StorableForm):
    """A source asking for the report to go to the next independent body."""

    reason = SelectField(
        _l("Why?"),
        choices=[
            SelectChoice("no-feedback", _l("I have had no feedback within the legal time limit")),
            SelectChoice("imminent-danger", _l("Someone is in immediate danger")),
            SelectChoice("collusion", _l("I believe a body handling my report is involved, or is working with those involved")),
        ],
        validators=[DataRequired()],
    )
    explanation = TextAreaField(
        _l("Explain if you wish (encrypted)"), validators=[Length(max=20000)], render_kw={"rows": 4}
    )


class ProtectionForm(StorableForm):
    """A source asking for a protection measure; choices come from the jurisdiction."""

    measure = SelectField(_l("What do you need?"), validators=[DataRequired()])
    details = TextAreaField(
        _l("What happened to you, and what do you need? (encrypted)"), validators=[Length(max=20000)],
        render_kw={"rows": 4},
    )
    identity = TextAreaField(
        _l("Your name and how to reach you, only if you choose to give them (encrypted, and kept from "
           "everyone unless you agree, or a designated official decides otherwise after telling you why)"),
        validators=[Length(max=2000)], render_kw={"rows": 2},
    )
    from_date = DateField(_l("The date the measure asks for, if any (for example, the day you were dismissed). "
                             "The server sees this date: it starts the deadline for the body that helps you."),
                          validators=[Optional()])


class ConsentForm(StorableForm):
    pass
