"""Forms of the web desk. Every one carries a CSRF token (FlaskForm); none takes a file.

Uploads are refused by the request class (see :mod:`parrhesia.web.security`), so a key
file is pasted as text, or read by the desk's script and posted as text.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, IntegerField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, Regexp

from parrhesia.web.security import StorableForm

__all__ = [
    "LoginForm",
    "EnrolForm",
    "ActionForm",
    "StatusForm",
    "ReplyForm",
    "NoteForm",
    "RecuseForm",
    "TransferForm",
    "KeyFileForm",
]

_CODE = Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6-digit code from your authenticator app."))
_NO_AUTOFILL = {"autocomplete": "off", "autocapitalize": "off", "spellcheck": "false"}
# Replies and notes are sealed in memory on receipt; the form limit of the app
# (MAX_FORM_MEMORY_SIZE) bounds them as well.
_TEXT_LIMIT = 60_000


class LoginForm(StorableForm):
    login_name = StringField(_l("Log-in name"), validators=[DataRequired(), Length(max=64)], render_kw=_NO_AUTOFILL)
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)],
                             render_kw={"autocomplete": "current-password"})
    # Empty at a first log-in: the code is set up on the next page.
    code = StringField(_l("Code from your authenticator app"), validators=[Length(max=12)],
                       render_kw={**_NO_AUTOFILL, "inputmode": "numeric", "autocomplete": "one-time-code"})


class EnrolForm(StorableForm):
    code = StringField(_l("Code from your authenticator app"), validators=[DataRequired(), _CODE],
                       render_kw={**_NO_AUTOFILL, "inputmode": "numeric", "autocomplete": "one-time-code"})


class ActionForm(StorableForm):
    """A form that is only a button (log out, acknowledge, forget the key file)."""


class StatusForm(StorableForm):
    status = SelectField(_l("Status"), validators=[DataRequired()], id="status-choice")


class ReplyForm(StorableForm):
    text = TextAreaField(_l("Reply to the source"), validators=[DataRequired(message=_l("The reply is empty.")),
                                                                Length(max=_TEXT_LIMIT)], id="reply-text")
    feedback = BooleanField(_l("This reply is feedback on the follow-up (meets the feedback deadline)"),
                            id="reply-feedback")


class NoteForm(StorableForm):
    text = TextAreaField(_l("Internal note (only your body's recipients can read it)"),
                         validators=[DataRequired(message=_l("The note is empty.")), Length(max=_TEXT_LIMIT)],
                         id="note-text")


class RecuseForm(StorableForm):
    reason = TextAreaField(_l("Why your body is in conflict"),
                           validators=[DataRequired(message=_l("Give a reason.")), Length(max=500)], id="recuse-reason")


class TransferForm(StorableForm):
    target = SelectField(_l("Transfer to"), validators=[DataRequired(message=_l("Choose a body."))],
                         id="transfer-target")
    reason = TextAreaField(_l("Reason for the transfer"),
                           validators=[DataRequired(message=_l("Give a reason.")), Length(max=500)], id="transfer-reason")
    # Filled in by the desk's script, with the key unlocked in the browser: the report
    # key sealed to the target body's key (a body outside the escalation chain needs it).
    sealed_key = HiddenField(validators=[Optional(), Length(max=200)], id="transfer-sealed-key")
    generation = HiddenField(validators=[Optional(), Regexp(r"^[0-9]{1,9}$")], id="transfer-generation")


class KeyFileForm(StorableForm):
    key_file = TextAreaField(_l("Your key file (its contents)"),
                             validators=[DataRequired(message=_l("Paste your key file.")), Length(max=8192)],
                             render_kw=_NO_AUTOFILL)


class NewRecipientForm(StorableForm):
    """A body administrator adds a colleague: their public key, and a desk log-in."""

    name = StringField(_l("Name or role, as shown to sources"), validators=[DataRequired(), Length(max=200)])
    public_key = StringField(_l("Their public key (prh1pk_…, from `parrhesia keys generate`)"),
                             validators=[DataRequired(), Length(max=100)])
    login_name = StringField(_l("Log-in name for the desk"), validators=[DataRequired(), Length(min=2, max=64)])
    password = PasswordField(_l("A first password (at least 12 characters), to hand over in person"),
                             validators=[DataRequired(), Length(min=12, max=200)])


class ClockForm(StorableForm):
    """Extend, pause or resume a deadline where its law allows (the reason is recorded)."""

    months = IntegerField(_l("New length in months"), validators=[Optional(), NumberRange(min=1, max=120)])
    reason = TextAreaField(_l("The reason (recorded)"), validators=[Optional(), Length(max=500)])


class JunkForm(StorableForm):
    """Mark a report as junk: the body's deadlines stop; the reason is recorded."""

    reason = TextAreaField(_l("Why it is not a genuine report (recorded)"),
                           validators=[DataRequired(message=_l("Give the reason (it is recorded).")), Length(max=500)],
                           id="junk-reason")


class ProtectionStatusForm(StorableForm):
    status = SelectField(_l("Status"), validators=[DataRequired()], id="protection-status")


__all__ += ["ProtectionStatusForm"]
