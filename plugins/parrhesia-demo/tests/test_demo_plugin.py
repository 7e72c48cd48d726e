"""The Republic of Example: its directory, routing, questions and protection measures."""

from __future__ import annotations

from flask.testing import FlaskClient

import parrhesia_demo
from parrhesia.contract.manager import installed_plugins
from parrhesia.domain.host import PluginHost
from parrhesia.domain.routing import RouteDecision
from parrhesia.plugin import BodyKind, RoutingRequest


def decide(host: PluginHost, **fields: str) -> RouteDecision:
    return host.decide(RoutingRequest.from_fields({name: (value,) for name, value in fields.items()}))


def test_the_plugin_is_found_through_its_entry_point() -> None:
    assert installed_plugins()["demo"].load() is parrhesia_demo


def test_the_republic_is_in_the_directory(host: PluginHost) -> None:
    """parrhesia_directory: every body of the Republic, with the relations that matter."""
    directory = host.directory
    ours = directory.in_jurisdiction("example")
    assert {b.id for b in ours} >= {
        "example-government", "example-interior", "example-finance", "example-health", "example-police",
        "example-prosecutor", "example-supreme-court", "example-aca", "example-ombudsman",
        "example-audit-office", "example-integrity-committee", "example-ngo",
    }
    assert all(b.id.startswith("example-") for b in ours)
    assert directory.get("example-government").kind is BodyKind.HEAD_OF_GOVERNMENT
    assert directory.superiors("example-interior") == ["example-government"]
    assert ("example-police", "oversees") in directory.controlled_by("example-interior")
    appointed = {target for target, kind in directory.controlled_by("example-parliament") if kind == "appoints"}
    assert appointed == {"example-ombudsman", "example-audit-office", "example-aca"}


def test_the_independent_bodies_are_outside_the_executive(host: PluginHost) -> None:
    in_conflict = host.directory.conflicts_of("example-government")
    for independent in ("example-aca", "example-ombudsman", "example-audit-office", "example-supreme-court"):
        assert independent not in in_conflict
    # The prosecutor is appointed by the head of government; the NGO lives on a grant
    # from the Ministry of Finance.
    assert "example-prosecutor" in in_conflict
    assert "example-ngo" in in_conflict


def test_implicated_ministry_never_receives_report(host: PluginHost) -> None:
    """parrhesia_route: the Ministry of the Interior, the police it oversees and the head
    of government above it never receive the report; the Anti-Corruption Agency does."""
    decision = decide(host, implicated="example-interior", subject="police-misconduct")
    for conflicted in ("example-interior", "example-police", "example-police-internal-affairs", "example-government"):
        assert conflicted not in decision.route
        assert conflicted in {e.body_id for e in decision.excluded}
    assert "example-aca" in decision.route
    assert not decision.fallback


def test_report_implicating_the_agency_reaches_the_ombudsman(host: PluginHost) -> None:
    decision = decide(host, implicated="example-aca", subject="public-procurement")
    assert decision.route == ("example-ombudsman",)
    assert not decision.fallback  # the plugin proposed it; not the last resort


def test_subjects_propose_the_competent_bodies(host: PluginHost) -> None:
    assert decide(host, subject="public-procurement").route == ("example-aca",)
    assert decide(host, subject="misuse-of-public-funds").route == ("example-aca", "example-audit-office")
    assert decide(host, subject="police-misconduct").route == ("example-aca", "example-prosecutor")
    assert decide(host, subject="health-sector").route == ("example-aca",)


def test_sextortion_is_a_category_of_its_own(host: PluginHost) -> None:
    subject = next(f for f in host.routing_fields if f.name == "subject")
    assert subject.allows("sextortion")
    assert decide(host, subject="sextortion").route == ("example-aca", "example-prosecutor")


def test_a_report_without_a_proposal_goes_to_the_last_resort(host: PluginHost) -> None:
    decision = decide(host, subject="other")
    assert decision.route == ("example-ombudsman",)
    assert decision.fallback


def test_another_jurisdiction_gets_no_proposal(host: PluginHost) -> None:
    decision = decide(host, jurisdiction="instance", subject="public-procurement")
    assert decision.route == ("example-ombudsman",)
    assert decision.fallback


def test_imminent_danger_goes_to_the_police_unless_they_are_in_conflict(host: PluginHost) -> None:
    assert "example-police" in decide(host, urgency="imminent").route
    decision = decide(host, urgency="imminent", implicated="example-interior")
    assert "example-police" not in decision.route
    assert "example-prosecutor" in decision.route


def test_police_misconduct_never_reaches_the_police(host: PluginHost) -> None:
    """parrhesia_conflicts: the plugin's own exclusions, on top of the core rule."""
    decision = decide(host, subject="police-misconduct", urgency="imminent")
    excluded = {e.body_id: e.reason for e in decision.excluded}
    assert excluded["example-police"] == "reports of police misconduct never go to the police"
    assert "example-police-internal-affairs" in excluded
    assert decision.route == ("example-aca", "example-prosecutor")


def test_subjects_are_added_to_the_core_subject_field(host: PluginHost) -> None:
    """parrhesia_intake_fields: choices merge by name with the core's field."""
    subject = next(f for f in host.intake_fields if f.name == "subject")
    assert subject.routing
    values = [c.value for c in subject.choices]
    assert {"public-procurement", "misuse-of-public-funds", "police-misconduct", "health-sector", "sextortion"} <= set(values)
    assert "other" in values  # the core's choice is kept


def test_content_questions_are_never_routing_fields(host: PluginHost) -> None:
    content = {f.name: f for f in host.content_fields}
    assert str(content["when"].label) == "When did it happen?"
    assert content["evidence_location"].kind == "textarea"
    routing = {f.name for f in host.routing_fields}
    assert not {"when", "evidence_location"} & routing


def test_protection_measures_name_the_competent_body(host: PluginHost) -> None:
    """parrhesia_protection_measures: the catalogue, each with a body and a legal source."""
    measures = {m.id: m for m in host.measures}
    assert set(measures) == {
        "example-retaliation-complaint", "example-interim-relief", "example-witness-protection",
        "example-legal-support", "example-psychological-support",
    }
    assert measures["example-retaliation-complaint"].body_id == "example-ombudsman"
    assert measures["example-interim-relief"].body_id == "example-supreme-court"
    for measure in measures.values():
        assert measure.body_id in host.directory
        assert measure.legal_source
        assert measure.jurisdiction == "example"


def test_the_source_form_offers_the_republics_subjects(client: FlaskClient) -> None:
    page = client.get("/submit").get_data(as_text=True)
    assert "Sextortion" in page
    assert "Ministry of the Interior" in page


def test_a_french_or_spanish_source_reads_the_plugins_questions_in_their_language(client: FlaskClient) -> None:
    # The plugin ships its own catalogues (parrhesia_demo/translations); the host adds
    # them. Its subjects are choices of the core's subject question.
    french = client.get("/submit?lang=fr").get_data(as_text=True)
    assert "Marchés publics (appels d’offres, contrats)" in french and "Sextorsion (une faveur" in french
    assert "Public procurement" not in french
    spanish = client.get("/submit?lang=es").get_data(as_text=True)
    assert "Contratación pública (licitaciones, contratos)" in spanish and "Sextorsión" in spanish
    english = client.get("/submit?lang=en").get_data(as_text=True)
    assert "Public procurement (tenders, contracts)" in english
