"""The issue's scripted scenario on the demo jurisdiction, step by step: a report
implicating a ministry, a missed deadline, an escalation, a protection request and
closure — checked each time as the source, the recipients of each body, operators
(``parrhesia reports list``) and the audit log see it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import AuditEntry, Report
from parrhesia.testing import RegisteredRecipient, add_test_recipient, csrf_token, log_in, submit_report

MESSAGE = "scenario-canary: the Ministry of the Interior rigs the radio tender"


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    # No standing readers: each test says which bodies hold a key.
    return {"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS, "readers": False}


class Scenario:
    def __init__(self, app: Flask) -> None:
        self.app = app
        self.folder = str(app.extensions["parrhesia.instance"].config.path)
        self.aca = add_test_recipient(app, "example-aca", name="ACA officer")
        self.ombudsman = add_test_recipient(app, "example-ombudsman", name="Ombudsman officer")
        self.interior = add_test_recipient(app, "example-interior", name="Ministry officer")
        self.police = add_test_recipient(app, "example-police", name="Police officer")
        self.source: FlaskClient = app.test_client()
        self.report_id = ""

    def run(self, *args: str) -> str:
        result = CliRunner().invoke(main, [*args, "--instance", self.folder])
        assert result.exit_code == 0, result.output
        return result.output

    def operators_view(self) -> dict[str, Any]:
        (row,) = json.loads(self.run("reports", "list", "--json"))["reports"]
        assert "scenario-canary" not in json.dumps(row)
        return dict(row)

    def api(self, who: RegisteredRecipient, path: str = "/api/v1/reports") -> Any:
        return self.app.test_client().get(path, headers=who.headers)

    def visible_to(self, who: RegisteredRecipient) -> list[str]:
        return [r["id"] for r in self.api(who).json["reports"]]

    def source_page(self) -> str:
        return self.source.get("/report").get_data(as_text=True)

    def audit(self) -> list[tuple[str, str, str | None]]:
        with Session(self.app.extensions["parrhesia.instance"].engine) as db:
            return [(e.action, e.actor, e.body_id) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.seq))]

    def created(self) -> date:
        with Session(self.app.extensions["parrhesia.instance"].engine) as db:
            report = db.get(Report, self.report_id)
            assert report is not None
            return report.created_on


def test_a_report_on_a_captured_ministry_goes_all_the_way(app: Flask) -> None:
    s = Scenario(app)

    # 1. The source reports the Ministry of the Interior and is told who will read it.
    response, codename = submit_report(s.source, MESSAGE, implicated="example-interior", subject="public-procurement")
    assert response.status_code == 200 and codename
    s.report_id = s.visible_to(s.aca)[0]
    page = s.source_page()
    assert "Anti-Corruption Agency" in page.split("These may receive it on escalation")[0]
    assert "overseen by Ministry of the Interior" in page
    assert s.visible_to(s.interior) == [] and s.visible_to(s.police) == [] and s.visible_to(s.ombudsman) == []
    row = s.operators_view()
    assert row["route"] == ["example-aca"]
    assert {"example-interior", "example-police", "example-government"} <= {b["body_id"] for b in row["excluded"]}
    assert {c["clock_id"]: c["state"] for c in row["clocks"]} == {"eu-acknowledge": "running", "eu-feedback": "running"}

    # 2. The Anti-Corruption Agency misses the 7-day acknowledgement (Directive 2019/1937 Art 9(1)(b)).
    output = s.run("tick", "--now", (s.created() + timedelta(days=8)).isoformat())
    assert f"escalated\t{s.report_id}\texample-ombudsman" in output

    # 3. The escalation: the ombudsman reads it, nobody implicated does, everyone sees why.
    assert s.visible_to(s.ombudsman) == [s.report_id] and s.visible_to(s.aca) == [s.report_id]
    assert s.visible_to(s.interior) == [] and s.visible_to(s.police) == []
    assert s.api(s.ombudsman, f"/api/v1/reports/{s.report_id}").json["sealed_key"] is not None
    source = app.test_client()
    log_in(source, codename)
    s.source = source
    page = s.source_page()
    assert "sent to Ombudsman of the Republic" in page and "a deadline was missed" in page
    row = s.operators_view()
    assert [(e["body_id"], e["trigger"]) for e in row["escalations"]] == [("example-ombudsman", "clock-missed")]
    assert {c["clock_id"]: c["state"] for c in row["clocks"]}["eu-acknowledge"] == "missed"
    assert any(c["body_id"] == "example-ombudsman" and c["state"] == "running" for c in row["clocks"])
    assert ("escalation", "system", "example-ombudsman") in s.audit()

    # 4. The source, demoted since, asks for protection: it reaches the ombudsman only.
    token = csrf_token(page)
    asked = s.source.post("/report/protection", data={
        "csrf_token": token, "measure": "example-retaliation-complaint", "details": "scenario-canary: demoted"})
    assert asked.status_code == 303
    (request,) = s.api(s.ombudsman, "/api/v1/protection-requests").json["protection_requests"]
    assert request["status"] == "requested"
    for other in (s.aca, s.interior, s.police):
        assert s.api(other, "/api/v1/protection-requests").json == {"protection_requests": []}
    assert "Complaint about retaliation" in s.source_page() and "status: requested" in s.source_page()
    row = s.operators_view()
    assert [(p["measure_id"], p["body_id"], p["status"]) for p in row["protection_requests"]] == [
        ("example-retaliation-complaint", "example-ombudsman", "requested")]
    granted = app.test_client().post(f"/api/v1/protection-requests/{request['id']}/status", json={"status": "granted"},
                                     headers=s.ombudsman.headers)
    assert granted.status_code == 200
    assert "status: granted" in s.source_page()

    # 5. The agency acknowledges late, answers, and closes the case.
    client = app.test_client()
    assert client.post(f"/api/v1/reports/{s.report_id}/acknowledge", headers=s.aca.headers).status_code == 200
    assert client.post(f"/api/v1/reports/{s.report_id}/status", json={"status": "closed"},
                       headers=s.aca.headers).status_code == 200
    assert "Status: closed" in s.source_page()
    row = s.operators_view()
    assert row["status"] == "closed" and row["closed_on"] is not None
    actions = [a for a, _, _ in s.audit()]
    for expected in ("open", "escalation", "protection.request", "protection.status", "acknowledge", "status"):
        assert expected in actions, expected
    verify = CliRunner().invoke(main, ["audit", "verify", "--instance", s.folder])
    assert verify.exit_code == 0 and "intact" in verify.output
