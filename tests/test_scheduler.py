"""The scheduled round: clocks, retention and the notification batch together."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.ops import scheduler
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import ReportClock, ReportEscalation
from parrhesia.testing import add_test_recipient, submit_report


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS}


def test_a_round_escalates_overdue_reports(app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    add_test_recipient(app, "example-aca")
    add_test_recipient(app, "example-ombudsman")
    submit_report(app.test_client(), "secret words", subject="public-procurement")
    engine = app.extensions["parrhesia.instance"].engine
    with Session(engine) as db:  # eight days pass
        for clock in db.scalars(select(ReportClock)):
            clock.due_on -= timedelta(days=8)
        db.commit()
    caplog.set_level("INFO")
    scheduler.run_round(Path(app.extensions["parrhesia.instance"].config.path))
    with Session(engine) as db:
        assert [e.body_id for e in db.scalars(select(ReportEscalation))] == ["example-ombudsman"]
    assert "1 escalation(s)" in caplog.text and "secret words" not in caplog.text

