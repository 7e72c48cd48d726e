"""A small jurisdiction used by the core tests: a ministry overseeing a police force,
under a head of government, with an independent agency and ombudsman."""

from parrhesia.plugin import (
    Body,
    Choice,
    Clock,
    DirectoryContribution,
    EscalationStep,
    Exclusion,
    IntakeField,
    ProtectionMeasure,
    Relation,
    SourceNotice,
    hookimpl,
)

EVENTS: list = []


@hookimpl
def parrhesia_directory():  # type: ignore[no-untyped-def]
    return DirectoryContribution(
        bodies=(
            Body("t-gov", "Government", "head of government", "testland"),
            Body("t-interior", "Ministry of the Interior", "ministry", "testland", parent="t-gov"),
            Body("t-police", "Police", "police", "testland"),
            Body("t-police-north", "Police North", "police", "testland", parent="t-police"),
            Body("t-aca", "Anti-Corruption Agency", "anti-corruption agency", "testland"),
            Body("t-ombuds", "Ombudsman", "ombudsman", "testland"),
            Body("t-audit", "Audit Office", "audit institution", "testland"),
        ),
        relations=(Relation("t-interior", "oversees", "t-police"), Relation("t-gov", "funds", "t-audit")),
    )


@hookimpl
def parrhesia_intake_fields():  # type: ignore[no-untyped-def]
    return [
        IntakeField("subject", "Subject", "choice", routing=True, choices=(Choice("police", "Police misconduct"),)),
        IntakeField("when", "When did it happen?", "text", routing=False),
    ]


@hookimpl
def parrhesia_route(request):  # type: ignore[no-untyped-def]
    return ["t-aca", "t-police"] if request.subject == "police" else ["t-aca"]


@hookimpl
def parrhesia_conflicts(request):  # type: ignore[no-untyped-def]
    return [Exclusion("t-audit", "the audit office declared a conflict")] if request.subject == "police" else []


@hookimpl
def parrhesia_escalation(directory):  # type: ignore[no-untyped-def]
    return [EscalationStep("t-audit", 30), EscalationStep("t-ombuds", 20), EscalationStep("t-aca", 10)]


@hookimpl
def parrhesia_clocks():  # type: ignore[no-untyped-def]
    return [
        Clock("acknowledge", "Acknowledge receipt", "Test Act s.1", days=7),
        Clock("reflection", "Decide after the reflection period", "Test Act s.4", days=30, pausable=True),
    ]


@hookimpl
def parrhesia_source_notices():  # type: ignore[no-untyped-def]
    return [SourceNotice("rights", "Your rights", "You are protected.", "Test Act s.2")]


@hookimpl
def parrhesia_protection_measures():  # type: ignore[no-untyped-def]
    return [ProtectionMeasure("interim-relief", "Interim relief", "Ask a court to stop a dismissal.", "Test Act s.3")]


@hookimpl
def parrhesia_statuses():  # type: ignore[no-untyped-def]
    return ["hearing-scheduled"]


@hookimpl
def parrhesia_event(event):  # type: ignore[no-untyped-def]
    EVENTS.append(event)
