"""The Republic's law in three tests, one line each with the kit of parrhesia.testing."""

from parrhesia.testing import decide, make_host

REPUBLIC = make_host(plugins=["demo", "eu-directive", "anticorruption"], settings={"last_resort": ["example-ombudsman"]})


def test_a_report_on_the_interior_avoids_its_chain_of_command():
    assert decide(REPUBLIC, implicated="example-interior").route == ("example-aca",)


def test_a_report_on_the_agency_escalates_to_the_audit_office():
    assert decide(REPUBLIC, implicated="example-aca").escalation[0].body_id == "example-audit-office"


def test_the_agency_acknowledges_receipt_within_seven_days():
    assert {c.id: c.days for c in decide(REPUBLIC, subject="public-procurement").clocks}["eu-acknowledge"] == 7
