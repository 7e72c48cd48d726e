"""The routing questions every instance asks: jurisdiction, subject, implicated body,
urgency, and bodies the source does not trust. Labels go through flask-babel."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from parrhesia.contract.directory import Directory
from parrhesia.contract.intake import Choice, FieldKind, IntakeField
from parrhesia.contract.routing_request import URGENCY_IMMINENT, URGENCY_NORMAL
from parrhesia.plugin import hookimpl


@hookimpl(trylast=True)
def parrhesia_intake_fields(directory: Directory) -> list[IntakeField]:
    bodies = sorted(directory.bodies.values(), key=lambda b: (b.jurisdiction, b.name))
    body_choices = tuple(Choice(b.id, b.name, b.jurisdiction) for b in bodies)
    return [
        IntakeField(
            name="jurisdiction",
            label=_l("Where did it happen?"),
            kind=FieldKind.CHOICE,
            routing=True,
            choices=tuple(Choice(j, j) for j in directory.jurisdictions()),
        ),
        IntakeField(
            name="subject",
            label=_l("What is it about?"),
            kind=FieldKind.CHOICE,
            routing=True,
            choices=(Choice("other", _l("Something else")),),
        ),
        IntakeField(
            name="implicated",
            label=_l("Is an institution itself involved?"),
            kind=FieldKind.CHOICE,
            routing=True,
            choices=body_choices,
            help=_l("It will not receive your report, nor will any body that controls it or that it controls."),
        ),
        IntakeField(
            name="urgency",
            label=_l("Is someone in immediate danger?"),
            kind=FieldKind.CHOICE,
            routing=True,
            choices=(Choice(URGENCY_NORMAL, _l("No")), Choice(URGENCY_IMMINENT, _l("Yes, someone is in danger now"))),
        ),
        IntakeField(
            name="exclude",
            label=_l("Bodies you do not want to receive your report"),
            kind=FieldKind.MULTICHOICE,
            routing=True,
            choices=body_choices,
        ),
    ]
