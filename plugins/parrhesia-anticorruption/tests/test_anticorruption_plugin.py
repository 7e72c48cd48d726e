"""Escalation chains: ordered by independence, never through a body in conflict."""

from __future__ import annotations

import parrhesia_anticorruption
from parrhesia.contract.manager import installed_plugins
from parrhesia.domain.host import PluginHost
from parrhesia.domain.routing import LAST_RESORT_RANK, RouteDecision
from parrhesia.plugin import RoutingRequest


def request(**fields: str | tuple[str, ...]) -> RoutingRequest:
    return RoutingRequest.from_fields(
        {name: value if isinstance(value, tuple) else (value,) for name, value in fields.items()}
    )


def chain(decision: RouteDecision) -> list[str]:
    """The plugin's steps (the core closes every chain with the recipients of last resort)."""
    return [step.body_id for step in decision.escalation if step.rank < LAST_RESORT_RANK]


def test_the_plugin_is_found_through_its_entry_point() -> None:
    assert installed_plugins()["anticorruption"].load() is parrhesia_anticorruption


def test_the_chain_is_ordered_by_independence_from_the_executive(host: PluginHost) -> None:
    """parrhesia_escalation: agency, ombudsman, audit, prosecutor, parliament,
    international, civil society."""
    decision = host.decide(request(jurisdiction="testland"))
    assert decision.route == ("t-aca",)
    assert chain(decision) == [
        "t-ombudsman", "t-audit", "t-prosecutor", "t-parliament", "t-un-office", "i-union-office", "t-ngo",
    ]
    ranks = [step.rank for step in decision.escalation]
    assert ranks == sorted(ranks)
    assert all(step.reason for step in decision.escalation)


def test_bodies_in_conflict_are_skipped(host: PluginHost) -> None:
    decision = host.decide(request(implicated="t-government"))
    # The prosecutor is appointed by the government; the watchdog is funded by one of
    # its ministries.
    assert chain(decision) == ["t-ombudsman", "t-audit", "t-parliament", "t-un-office", "i-union-office"]
    assert "outside the implicated body's control" in decision.escalation[0].reason


def test_the_plugin_itself_never_proposes_a_body_in_conflict(host: PluginHost) -> None:
    """The core drops conflicting steps too; the plugin must not rely on it."""
    for implicated in host.directory.bodies:
        req = request(implicated=implicated)
        conflicts = host.directory.conflicts_of(implicated)
        steps = parrhesia_anticorruption.parrhesia_escalation(req, host.directory, ())
        assert not {s.body_id for s in steps} & set(conflicts), implicated


def test_an_implicated_agency_escalates_to_the_ombudsman(host: PluginHost) -> None:
    decision = host.decide(request(implicated="t-aca"))
    assert decision.route == ("t-ombudsman",)  # the last resort: t-aca is in conflict
    assert "t-aca-north" not in chain(decision)  # below the agency
    assert chain(decision)[0] == "t-audit"


def test_an_implicated_parliament_leaves_the_bodies_it_appoints_out(host: PluginHost) -> None:
    decision = host.decide(request(implicated="t-committee"))
    # The committee's parliament is above it; the bodies parliament appoints are not
    # in conflict with the committee.
    assert "t-parliament" not in chain(decision)
    assert chain(decision)[:3] == ["t-ombudsman", "t-audit", "t-prosecutor"]


def test_bodies_on_the_route_and_excluded_by_the_source_are_skipped(host: PluginHost) -> None:
    decision = host.decide(request(jurisdiction="testland", exclude=("t-ombudsman", "t-audit")))
    assert "t-aca" not in chain(decision)  # on the route
    assert chain(decision)[:2] == ["t-prosecutor", "t-parliament"]


def test_units_are_reached_through_the_head_of_their_institution(host: PluginHost) -> None:
    decision = host.decide(request(jurisdiction="testland"))
    assert "t-committee" not in chain(decision)
    assert "t-aca-north" not in chain(decision)


def test_other_jurisdictions_appear_only_through_international_bodies(host: PluginHost) -> None:
    decision = host.decide(request(jurisdiction="testland"))
    assert "o-aca" not in chain(decision)
    assert "o-ngo" not in chain(decision)
    assert chain(decision).index("t-un-office") < chain(decision).index("i-union-office")
    other = host.decide(request(jurisdiction="otherland"))
    assert chain(other) == ["o-aca", "i-union-office", "t-un-office", "o-ngo"]


def test_the_core_closes_the_chain_with_the_recipients_of_last_resort(host: PluginHost) -> None:
    decision = host.decide(request(jurisdiction="otherland"))
    last = [s.body_id for s in decision.escalation if s.rank >= LAST_RESORT_RANK]
    assert last == ["t-ngo", "t-ombudsman"]
    assert max(s.rank for s in decision.escalation if s.body_id in chain(decision)) < LAST_RESORT_RANK


def test_without_a_jurisdiction_the_route_decides(host: PluginHost) -> None:
    decision = host.decide(request())
    assert decision.route == ("t-aca",)
    assert chain(decision)[0] == "t-ombudsman"



def test_the_escalation_reasons_are_stored_in_english_and_shown_in_the_readers_language(app) -> None:  # type: ignore[no-untyped-def]
    from flask_babel import force_locale

    from parrhesia.contract.clocks import translated

    with app.test_request_context(), force_locale("fr"):
        assert translated("a prosecutor, outside the implicated body's control") == (
            "un procureur, hors du contrôle de l'organisme mis en cause")
    with app.test_request_context(), force_locale("es"):
        assert translated("a specialised anti-corruption agency") == "una agencia anticorrupción especializada"
