"""The institutions of the Republic of Example and how they control one another.

Everything here is fictional. The shape is not: the executive (a head of government
above its ministries, a ministry overseeing the police) is kept apart from the bodies
that must be able to investigate it. Parliament appoints the Ombudsman, the National
Audit Office and the director of the Anti-Corruption Agency, so none of them sits in
the executive's chain of command or depends on it.
"""

from __future__ import annotations

from parrhesia.plugin import Body, BodyKind, DirectoryContribution, Relation, RelationKind

__all__ = [
    "JURISDICTION",
    "HEAD_OF_GOVERNMENT",
    "INTERIOR",
    "FINANCE",
    "HEALTH",
    "PROCUREMENT_OFFICE",
    "HOSPITALS",
    "POLICE",
    "POLICE_INTERNAL_AFFAIRS",
    "PROSECUTOR",
    "SUPREME_COURT",
    "ANTI_CORRUPTION_AGENCY",
    "OMBUDSMAN",
    "AUDIT_OFFICE",
    "PARLIAMENT",
    "INTEGRITY_COMMITTEE",
    "NGO",
    "DIRECTORY",
]

JURISDICTION = "example"

# Body ids carry the jurisdiction as a prefix, so that they stay unique when an
# instance enables several jurisdiction plugins.
HEAD_OF_GOVERNMENT = "example-government"
INTERIOR = "example-interior"
FINANCE = "example-finance"
HEALTH = "example-health"
PROCUREMENT_OFFICE = "example-procurement-office"
HOSPITALS = "example-hospitals"
POLICE = "example-police"
POLICE_INTERNAL_AFFAIRS = "example-police-internal-affairs"
PROSECUTOR = "example-prosecutor"
SUPREME_COURT = "example-supreme-court"
ANTI_CORRUPTION_AGENCY = "example-aca"
OMBUDSMAN = "example-ombudsman"
AUDIT_OFFICE = "example-audit-office"
PARLIAMENT = "example-parliament"
INTEGRITY_COMMITTEE = "example-integrity-committee"
NGO = "example-ngo"


def _body(body_id: str, name: str, kind: BodyKind, parent: str | None = None) -> Body:
    return Body(id=body_id, name=name, kind=kind, jurisdiction=JURISDICTION, parent=parent)


_BODIES = (
    # The executive: the chain of command runs from the head of government down.
    _body(HEAD_OF_GOVERNMENT, "Office of the Prime Minister", BodyKind.HEAD_OF_GOVERNMENT),
    _body(INTERIOR, "Ministry of the Interior", BodyKind.MINISTRY, parent=HEAD_OF_GOVERNMENT),
    _body(FINANCE, "Ministry of Finance", BodyKind.MINISTRY, parent=HEAD_OF_GOVERNMENT),
    _body(HEALTH, "Ministry of Health", BodyKind.MINISTRY, parent=HEAD_OF_GOVERNMENT),
    _body(PROCUREMENT_OFFICE, "Public Procurement Office", BodyKind.AGENCY, parent=FINANCE),
    _body(HOSPITALS, "National Hospitals Authority", BodyKind.AGENCY, parent=HEALTH),
    # The police are a body of their own, overseen by the Ministry of the Interior.
    _body(POLICE, "National Police", BodyKind.POLICE),
    _body(POLICE_INTERNAL_AFFAIRS, "Police Internal Affairs Unit", BodyKind.POLICE, parent=POLICE),
    # Justice.
    _body(PROSECUTOR, "Public Prosecution Service", BodyKind.PROSECUTOR),
    _body(SUPREME_COURT, "Supreme Court", BodyKind.COURT),
    # Bodies independent of the executive.
    _body(ANTI_CORRUPTION_AGENCY, "Anti-Corruption Agency", BodyKind.ANTI_CORRUPTION_AGENCY),
    _body(OMBUDSMAN, "Ombudsman of the Republic", BodyKind.OMBUDSMAN),
    _body(AUDIT_OFFICE, "National Audit Office", BodyKind.AUDIT_INSTITUTION),
    _body(PARLIAMENT, "National Assembly", BodyKind.PARLIAMENT),
    _body(INTEGRITY_COMMITTEE, "Public Integrity Committee of the National Assembly", BodyKind.PARLIAMENT, parent=PARLIAMENT),
    # Civil society.
    _body(NGO, "Transparency Example (accredited civil-society organisation)", BodyKind.NGO),
)

_RELATIONS = (
    Relation(INTERIOR, RelationKind.OVERSEES, POLICE),
    # Parliament appoints the heads of the independent bodies (the Agency's director
    # stands for the Agency), and its integrity committee oversees the Agency's work.
    Relation(PARLIAMENT, RelationKind.APPOINTS, OMBUDSMAN),
    Relation(PARLIAMENT, RelationKind.APPOINTS, AUDIT_OFFICE),
    Relation(PARLIAMENT, RelationKind.APPOINTS, ANTI_CORRUPTION_AGENCY),
    Relation(INTEGRITY_COMMITTEE, RelationKind.OVERSEES, ANTI_CORRUPTION_AGENCY),
    # The head of government appoints the Prosecutor General: a report implicating the
    # Prime Minister's office must not go to the prosecution service.
    Relation(HEAD_OF_GOVERNMENT, RelationKind.APPOINTS, PROSECUTOR),
    # The Ministry of Finance funds the hospitals authority (outside its own chain of
    # command) and gives Transparency Example a civil-society grant.
    Relation(FINANCE, RelationKind.FUNDS, HOSPITALS),
    Relation(FINANCE, RelationKind.FUNDS, NGO),
)

DIRECTORY = DirectoryContribution(bodies=_BODIES, relations=_RELATIONS)
