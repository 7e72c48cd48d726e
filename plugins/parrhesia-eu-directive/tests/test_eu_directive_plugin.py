"""EU Directive 2019/1937: deadlines on every report, and what the source is told."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask

import parrhesia_eu_directive
from parrhesia.contract.clocks import due_date
from parrhesia.contract.manager import PluginLoadError, installed_plugins
from parrhesia.domain.host import PluginHost
from parrhesia.domain.routing import RouteDecision
from parrhesia.plugin import RoutingRequest


def decide(host: PluginHost, **fields: str) -> RouteDecision:
    return host.decide(RoutingRequest.from_fields({name: (value,) for name, value in fields.items()}))


def test_the_plugin_is_found_through_its_entry_point() -> None:
    assert installed_plugins()["eu-directive"].load() is parrhesia_eu_directive


def test_every_report_must_be_acknowledged_within_7_days(host: PluginHost) -> None:
    """parrhesia_clocks: Art 9(1)(b) and Art 11(2)(b)."""
    clocks = {c.id: c for c in decide(host).clocks}
    acknowledge = clocks["eu-acknowledge"]
    assert (acknowledge.days, acknowledge.months) == (7, 0)
    assert "Art 9(1)(b)" in acknowledge.legal_source
    assert "Art 11(2)(b)" in acknowledge.legal_source
    assert acknowledge.body_id is None  # every body on the route


def test_feedback_is_due_within_3_months_extendable_to_6(host: PluginHost) -> None:
    clocks = {c.id: c for c in decide(host, implicated="integrity-office").clocks}
    feedback = clocks["eu-feedback"]
    assert (feedback.days, feedback.months) == (0, 3)
    assert feedback.extendable_to_months == 6
    assert "Art 9(1)(f)" in feedback.legal_source
    assert "Art 11(2)(d)" in feedback.legal_source


def test_due_dates_never_fall_after_the_legal_deadline() -> None:
    submitted = date(2025, 1, 31)
    assert due_date(submitted, parrhesia_eu_directive.ACKNOWLEDGE) == date(2025, 2, 7)
    # Three months from submission: never later than three months from an
    # acknowledgement given within the 7 days.
    assert due_date(submitted, parrhesia_eu_directive.FEEDBACK) == date(2025, 4, 30)


def test_the_conditions_for_public_disclosure_are_shown_before_sending(host: PluginHost) -> None:
    """parrhesia_source_notices: Art 15, as information and not as legal advice."""
    notices = {n.id: n for n in decide(host).notices}
    disclosure = notices["eu-public-disclosure"]
    assert "Art 15" in disclosure.legal_source
    text = str(disclosure.text)
    assert "information, not legal advice" in text
    assert "collusion" in text
    assert "(verify" in text  # unchecked wording is marked, as in DOMAIN.md


def test_the_source_is_told_their_identity_stays_confidential(host: PluginHost) -> None:
    notices = {n.id: n for n in decide(host).notices}
    assert "Art 16" in notices["eu-confidentiality"].legal_source
    assert "explicit consent" in str(notices["eu-confidentiality"].text)


def test_by_default_the_directive_applies_to_the_member_states_only(load) -> None:
    host = load()  # no jurisdictions setting: the plugin's own list of member states
    assert decide(host, jurisdiction="elsewhere").clocks == ()
    assert decide(host, jurisdiction="instance").clocks == ()  # not a member state's id
    everywhere = load(jurisdictions="all")
    assert {c.id for c in decide(everywhere, jurisdiction="elsewhere").clocks} == {"eu-acknowledge", "eu-feedback"}


def test_the_directive_can_be_limited_to_some_jurisdictions(load) -> None:
    host = load(jurisdictions=["instance"])
    assert {c.id for c in decide(host, jurisdiction="instance").clocks} == {"eu-acknowledge", "eu-feedback"}
    assert decide(host, jurisdiction="elsewhere").clocks == ()
    assert decide(host, jurisdiction="elsewhere").notices == ()
    # Without a chosen jurisdiction, the implicated body's decides...
    assert decide(host, implicated="elsewhere-ombudsman").notices == ()
    # ...and for the clocks, any body of the route in a covered jurisdiction.
    assert {c.id for c in decide(host, implicated="elsewhere-ombudsman").clocks} == {"eu-acknowledge", "eu-feedback"}


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"jurisdictions": "instance"}, "must be a non-empty list"),
        ({"jurisdictions": []}, "must be a non-empty list"),
        ({"jurisdictions": ["instanse"]}, "'instanse'"),
    ],
)
def test_a_mistyped_setting_stops_start_up(load, settings: dict[str, object], problem: str) -> None:
    """A setting that would silently drop legal deadlines stops start-up, naming the plugin."""
    with pytest.raises(PluginLoadError) as failure:
        load(**settings)
    assert "'eu-directive'" in str(failure.value)
    assert problem in str(failure.value)


def test_the_app_starts_with_the_directive(app: Flask) -> None:
    host = app.extensions["parrhesia.domain.host"]
    assert "eu-directive" in [name for name, _ in host.manager.list_name_plugin()]


def test_the_notices_are_shown_in_the_sources_language(client) -> None:
    from parrhesia.testing import review_route

    client.get("/?lang=fr")
    french = review_route(client).get_data(as_text=True)
    assert "Votre identité reste confidentielle" in french
    assert "Your identity stays confidential" not in french
    client.get("/?lang=es")
    assert "Cuándo puede hacerlo público" in review_route(client).get_data(as_text=True)


def test_clock_labels_are_shown_translated_and_stored_in_english(app, client) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from parrhesia.storage.models import ReportClock
    from parrhesia.testing import review_route, submit_report

    client.get("/?lang=fr")
    page = review_route(client).get_data(as_text=True)
    assert "Accuser réception auprès de l’auteur du signalement" in page
    assert "Acknowledge receipt to the reporting person" not in page
    response, codename = submit_report(client, "Soumis en français.")
    assert response.status_code == 200 and codename
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        labels = set(db.scalars(select(ReportClock.label)))
    assert {"Acknowledge receipt to the reporting person", "Give feedback to the reporting person on the follow-up"} <= labels
