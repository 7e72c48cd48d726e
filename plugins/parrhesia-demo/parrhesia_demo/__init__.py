"""Parrhesia jurisdiction plugin for the Republic of Example, a fictional state.

The worked example of docs/writing-plugins.md. It contributes the Republic's
institutions (:mod:`parrhesia_demo.republic`), adds its subjects to the routing
questionnaire and two content questions, routes reports by subject, and lists the
protection measures the Republic offers. It brings no clocks of its own: the
Republic applies EU Directive 2019/1937, whose deadlines come from the
``eu-directive`` plugin.

The Republic's statutes cited below ("Example ...") are as fictional as the Republic.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

from parrhesia.plugin import (
    URGENCY_IMMINENT,
    Choice,
    Clock,
    Directory,
    DirectoryContribution,
    DutyBody,
    Exclusion,
    FieldKind,
    IntakeField,
    ProtectionMeasure,
    RetentionRule,
    RoutingRequest,
    hookimpl,
)
from parrhesia.plugin import gettext_noop as N_
from parrhesia_demo.republic import (
    ANTI_CORRUPTION_AGENCY,
    AUDIT_OFFICE,
    DIRECTORY,
    JURISDICTION,
    NGO,
    OMBUDSMAN,
    POLICE,
    POLICE_INTERNAL_AFFAIRS,
    PROSECUTOR,
    SUPREME_COURT,
)

__all__ = [
    "SUBJECTS",
    "parrhesia_directory",
    "parrhesia_intake_fields",
    "parrhesia_protection_measures",
    "parrhesia_route",
    "parrhesia_conflicts",
    "parrhesia_retention",
    "parrhesia_duty_bodies",
]


# value -> (label shown to the source, bodies competent for it). Every subject goes to
# the Anti-Corruption Agency (Example Anti-Corruption Act s.4); some go to a second
# body as well. "other" is the core's own choice: with no implicated body it gets no
# proposal here, so the instance's recipient of last resort receives it.
SUBJECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "public-procurement": (
        _l("Public procurement (tenders, contracts)"),
        (ANTI_CORRUPTION_AGENCY,),
    ),
    "misuse-of-public-funds": (
        _l("Misuse of public funds"),
        (ANTI_CORRUPTION_AGENCY, AUDIT_OFFICE),
    ),
    "police-misconduct": (
        _l("Police misconduct"),
        (ANTI_CORRUPTION_AGENCY, PROSECUTOR),
    ),
    "health-sector": (
        _l("Health sector (hospitals, medicines, informal payments)"),
        (ANTI_CORRUPTION_AGENCY,),
    ),
    # Sextortion is a category of its own: a sexual favour demanded as the price of a
    # decision or a service is both an abuse of power and a crime.
    "sextortion": (
        _l("Sextortion (a sexual favour demanded in exchange for a decision or service)"),
        (ANTI_CORRUPTION_AGENCY, PROSECUTOR),
    ),
}


@hookimpl
def parrhesia_directory() -> DirectoryContribution:
    return DIRECTORY


@hookimpl
def parrhesia_intake_fields() -> list[IntakeField]:
    return [
        # Routing: the core defines "subject" too; fields merge by name, so these
        # choices are added to the core's ("Something else").
        IntakeField(
            name="subject",
            label=_l("What is it about?"),
            kind=FieldKind.CHOICE,
            routing=True,
            choices=tuple(Choice(value, label, JURISDICTION) for value, (label, _) in SUBJECTS.items()),
        ),
        # Content: encrypted with the report; the server never sees the answers.
        IntakeField(
            name="when",
            label=_l("When did it happen?"),
            kind=FieldKind.TEXT,
            routing=False,
            help=_l("A rough date is enough, for example “spring 2024” or “every month since March”."),
        ),
        IntakeField(
            name="evidence_location",
            label=_l("Where can the evidence be found?"),
            kind=FieldKind.TEXTAREA,
            routing=False,
            help=_l(
                "Which documents, records or people could confirm what you report, and where "
                "they are kept. Leave out anything that only you could know."
            ),
        ),
    ]


@hookimpl
def parrhesia_route(request: RoutingRequest, directory: Directory) -> list[str]:
    if not _concerns_the_republic(request, directory):
        return []
    proposed: set[str] = set()
    if request.subject in SUBJECTS:
        proposed.update(SUBJECTS[request.subject][1])
    if request.implicated:
        # An institution accused of corruption is the Agency's business whatever the
        # subject (Example Anti-Corruption Act s.4(2)).
        proposed.add(ANTI_CORRUPTION_AGENCY)
    if request.urgency == URGENCY_IMMINENT:
        # The police are the duty body for immediate danger. When they are in conflict
        # (the Ministry of the Interior is implicated) the core removes them: a plugin
        # proposes, the core's conflict rule decides.
        proposed.update((POLICE, PROSECUTOR))
    if ANTI_CORRUPTION_AGENCY in proposed and request.implicated in directory:
        if ANTI_CORRUPTION_AGENCY in directory.conflicts_of(request.implicated):
            # Reports the Agency cannot receive go to the Ombudsman
            # (Example Anti-Corruption Act s.9).
            proposed.add(OMBUDSMAN)
    return sorted(proposed)


@hookimpl
def parrhesia_conflicts(request: RoutingRequest) -> list[Exclusion]:
    # Beyond the core rule: a report of police misconduct never goes to the police,
    # internal affairs included, even when the source names no institution
    # (Example Police Act s.31: complaints against officers go to independent bodies).
    if request.subject == "police-misconduct":
        reason = "reports of police misconduct never go to the police"
        return [Exclusion(POLICE, reason), Exclusion(POLICE_INTERNAL_AFFAIRS, reason)]
    return []


@hookimpl
def parrhesia_protection_measures() -> list[ProtectionMeasure]:
    def measure(
        key: str, label: str, description: str, legal_source: str, body_id: str, **deadline: Any
    ) -> ProtectionMeasure:
        return ProtectionMeasure(
            id=f"example-{key}",
            label=label,
            description=description,
            legal_source=legal_source,
            jurisdiction=JURISDICTION,
            body_id=body_id,
            **deadline,
        )

    return [
        measure(
            "retaliation-complaint",
            _l("Complaint about retaliation"),
            _l("If you are dismissed, demoted, harassed or blacklisted because you reported, "
               "the Ombudsman can investigate and order it reversed."),
            # Directive 2019/1937 Art 19 (prohibition of retaliation) (verify article numbers)
            "Directive 2019/1937 Art 19 (verify); Example Whistleblower Act s.12",
            OMBUDSMAN,
        ),
        measure(
            "interim-relief",
            _l("Interim relief"),
            _l("A court order that stops retaliation at once, for example reinstatement "
               "while the case is decided."),
            # Directive 2019/1937 Art 21(6) (interim relief) (verify)
            "Directive 2019/1937 Art 21(6) (verify); Example Whistleblower Act s.14",
            SUPREME_COURT,
            # Example Whistleblower Act s.14(2): the claim reaches the court within 7 days
            # of the dismissal (modelled on UK Employment Rights Act 1996 ss.128-129).
            clock=Clock(
                id="example-interim-relief-claim",
                label=N_("Interim-relief claim must reach the court"),
                legal_source="Example Whistleblower Act s.14(2)",
                days=7,
            ),
            date_label=_l("the day you were dismissed"),
        ),
        measure(
            "witness-protection",
            _l("Referral to witness protection"),
            _l("Physical protection, non-disclosure of your identity or testimony by video "
               "link, if you or people close to you are in danger."),
            # UNCAC Art 32; UNTOC Art 24 (verify)
            "UNCAC Art 32; UNTOC Art 24 (verify); Example Witness Protection Act s.3",
            PROSECUTOR,
        ),
        measure(
            "legal-support",
            _l("Free legal advice"),
            _l("Confidential advice on your rights and on the protection available to you."),
            # Directive 2019/1937 Art 20(1) (support measures) (verify)
            "Directive 2019/1937 Art 20(1) (verify)",
            NGO,
        ),
        measure(
            "psychological-support",
            _l("Referral to psychological support"),
            _l("Confidential support from a counsellor, including for victims of sextortion."),
            # Directive 2019/1937 Art 20(2) (psychological support) (verify)
            "Directive 2019/1937 Art 20(2) (verify)",
            NGO,
        ),
    ]


def _concerns_the_republic(request: RoutingRequest, directory: Directory) -> bool:
    """Whether a report is for the Republic: chosen, or implied by the implicated body."""
    if request.jurisdiction is not None:
        return request.jurisdiction == JURISDICTION
    if request.implicated is not None:
        body = directory.get(request.implicated)
        return body is not None and body.jurisdiction == JURISDICTION
    return True


# Example Records Act s.12 (fictional): case files on reports are kept five years after
# the case is closed, then destroyed. Directive 2019/1937 Art 18 asks that reports be
# kept no longer than necessary and proportionate (verify).
RETENTION = RetentionRule(days=5 * 365, legal_source="Example Records Act s.12; Directive 2019/1937 Art 18")


@hookimpl
def parrhesia_retention(request: RoutingRequest, directory: Directory) -> RetentionRule | None:
    if request.jurisdiction not in (None, JURISDICTION):
        return None
    return RETENTION


@hookimpl
def parrhesia_duty_bodies(request: RoutingRequest) -> list[DutyBody]:
    """Imminent danger: the police duty desk within 24 hours (Example Police Act s.9); the
    prosecution service too, which takes over when the police are in conflict."""
    if request.jurisdiction not in (None, JURISDICTION):
        return []
    return [
        DutyBody(POLICE, hours=24, legal_source="Example Police Act s.9"),
        DutyBody(PROSECUTOR, hours=24, legal_source="Example Code of Criminal Procedure s.31"),
    ]
