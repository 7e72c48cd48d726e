"""The optional "who reports" form: every question has "prefer not to say", none is required."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional

from parrhesia.domain.demographics import PREFER_NOT_TO_SAY, QUESTIONS

__all__ = ["WhoReportsForm"]


class WhoReportsForm(FlaskForm):
    """One radio group per question in :data:`parrhesia.domain.demographics.QUESTIONS`."""


for _question in QUESTIONS:
    setattr(
        WhoReportsForm,
        _question.name,
        RadioField(_question.label, choices=[SelectChoice(value, label) for value, label in _question.choices], default=PREFER_NOT_TO_SAY, validators=[Optional()]),
    )
