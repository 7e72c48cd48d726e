"""Plain (non-upload) forms of the source interface; CSRF comes with FlaskForm."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField
from wtforms.validators import DataRequired, Length

__all__ = ["LoginForm", "LogoutForm"]


class LoginForm(FlaskForm):
    codename = PasswordField(
        _l("Your codename"),
        validators=[DataRequired(message=_l("Enter your codename.")), Length(max=512)],
        render_kw={"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"},
    )


class LogoutForm(FlaskForm):
    pass
