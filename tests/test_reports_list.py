"""`parrhesia reports list`: every report's metadata for operators, and never its content."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.domain import casework
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import Recipient, Report
from parrhesia.testing import add_test_recipient, csrf_token, log_in, submit_report

CANARY_MESSAGE = "canary-message-7f3a the minister's brother took the bribe"
CANARY_FILE = "canary-attachment-91c2-ledger.pdf"
CANARY_DETAILS = "canary-protection-55d0 demoted on Monday"
CANARY_IDENTITY = "canary-identity-Ana Example"
CANARY_RECUSAL = "canary-recusal-the accused is my cousin"


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS}


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _folder(app: Flask) -> str:
    return str(app.extensions["parrhesia.instance"].config.path)


def _cli(app: Flask, *args: str) -> str:
    result = CliRunner().invoke(main, [*args, "--instance", _folder(app)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def report_id(app: Flask) -> str:
    """A report implicating the Ministry of the Interior, with an attachment, a missed
    deadline and an escalation, and a protection request with an identity."""
    add_test_recipient(app, "example-aca", name="ACA officer")
    add_test_recipient(app, "example-ombudsman", name="Ombudsman officer")
    response, codename = submit_report(
        app.test_client(), CANARY_MESSAGE, files=[(CANARY_FILE, b"%PDF canary bytes")],
        implicated="example-interior", subject="public-procurement", jurisdiction="example",
    )
    assert response.status_code == 200 and codename
    with Session(_engine(app)) as db:
        found = db.scalars(select(Report.id)).one()
        created = db.get(Report, found).created_on  # type: ignore[union-attr]
    _cli(app, "tick", "--now", (created + timedelta(days=8)).isoformat())
    source = app.test_client()
    log_in(source, codename)
    token = csrf_token(source.get("/report").data)
    asked = source.post("/report/protection", data={
        "csrf_token": token, "measure": "example-retaliation-complaint", "details": CANARY_DETAILS,
        "identity": CANARY_IDENTITY,
    })
    assert asked.status_code == 303
    return found


def test_reports_list_json_shows_routing_escalations_clocks_and_protection(app: Flask, report_id: str) -> None:
    listed = json.loads(_cli(app, "reports", "list", "--json"))["reports"]
    assert [r["id"] for r in listed] == [report_id]
    report = listed[0]
    assert date.fromisoformat(report["created_on"])
    assert report["status"] == "received"
    assert report["fields"]["implicated"] == ["example-interior"]
    assert report["fields"]["subject"] == ["public-procurement"]
    assert report["fields"]["jurisdiction"] == ["example"]
    assert "example-aca" in report["route"] and "example-ombudsman" in report["route"]
    excluded = {e["body_id"] for e in report["excluded"]}
    assert {"example-interior", "example-police", "example-government"} <= excluded
    assert all(e["reason"] for e in report["excluded"])
    assert report["escalations"][0]["trigger"] == "clock-missed"
    assert report["escalations"][0]["body_id"] == "example-ombudsman"
    assert [s["body_id"] for s in report["escalation_chain"]][0] == "example-audit-office"
    clocks = {c["clock_id"]: c for c in report["clocks"]}
    assert clocks["eu-acknowledge"]["state"] == "missed"
    assert clocks["eu-feedback"]["state"] == "running"
    assert all(date.fromisoformat(c["due_on"]) for c in clocks.values())
    protection = report["protection_requests"]
    assert [(p["measure_id"], p["body_id"], p["status"], p["identity_state"]) for p in protection] == [
        ("example-retaliation-complaint", "example-ombudsman", "requested", "withheld")
    ]
    assert report["fallback_route"] is False


def test_reports_list_never_shows_content(app: Flask, report_id: str) -> None:
    with Session(_engine(app)) as db:
        officer = db.scalars(select(Recipient).where(Recipient.body_id == "example-aca")).one()
        report = db.get(Report, report_id)
        assert report is not None
        casework.recuse(app.extensions["parrhesia.domain.host"], db, officer, report, CANARY_RECUSAL)
    as_json = _cli(app, "reports", "list", "--json")
    as_text = _cli(app, "reports", "list")
    assert report_id in as_json and report_id in as_text
    listed = json.loads(as_json)["reports"][0]
    assert {"body_id": "example-aca", "role": "recused"} in listed["left_route"]
    for output in (as_json, as_text):
        for canary in ("canary", CANARY_MESSAGE, CANARY_FILE, "ledger", CANARY_DETAILS, CANARY_IDENTITY,
                       CANARY_RECUSAL, "cousin"):
            assert canary not in output


def test_reports_list_on_an_empty_instance(app: Flask) -> None:
    assert json.loads(_cli(app, "reports", "list", "--json")) == {"reports": []}
    assert "No reports." in _cli(app, "reports", "list")
