"""Statistics: safe to publish — whole years, no count below 5, nothing derivable by
subtraction — and the optional "who reports" answers, kept apart from every report."""

from __future__ import annotations

import csv
import html
import io
import json
import random
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.domain.demographics import PREFER_NOT_TO_SAY, QUESTIONS
from parrhesia.domain.statistics import OTHER, SMALL, THRESHOLD, WITHHELD, compile_statistics, suppress
from parrhesia.storage.models import (
    AuditEntry,
    DemographicCount,
    Report,
    ReportBody,
    ReportClock,
    ReportEscalation,
    ReportField,
)
from parrhesia.testing import csrf_token, submit_report
from parrhesia.web.app import create_app

LAST_YEAR = date.today().year - 1


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _folder(app: Flask) -> str:
    return str(app.extensions["parrhesia.instance"].config.path)


def _add_report(
    db: Session,
    *,
    created_on: date = date(LAST_YEAR, 3, 1),
    status: str = "received",
    jurisdiction: str | None = None,
    subject: str | None = None,
    route: Iterable[str] = ("integrity-office",),
    fallback: bool = False,
    escalated_to: Iterable[str | None] = (),
) -> Report:
    report = Report(
        id=secrets.token_hex(16), lookup_id=secrets.token_bytes(32), public_key=secrets.token_bytes(32),
        status=status, created_on=created_on, updated_on=created_on, fallback_route=fallback,
    )
    report.fields = [ReportField(name=n, value=v) for n, v in (("jurisdiction", jurisdiction), ("subject", subject)) if v]
    report.bodies = [ReportBody(body_id=b, role="route") for b in route]
    report.escalations = [
        ReportEscalation(body_id=b, trigger="clock-missed", on=created_on + timedelta(days=8)) for b in escalated_to
    ]
    db.add(report)
    db.flush()
    return report


def _ack_clock(report: Report, state: str, *, due_in: int = 7) -> ReportClock:
    clock = ReportClock(clock_id="eu-acknowledge", label="Acknowledge", legal_source="Directive 2019/1937 Art 9(1)(b)",
                        due_on=report.created_on + timedelta(days=due_in), met_by="acknowledge", state=state)
    report.clocks.append(clock)
    return clock


def _audit(db: Session, report: Report, action: str, day: date, detail: dict[str, object]) -> None:
    """An audit entry on a chosen day (the casework functions stamp the real time)."""
    seq = (db.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1)) or 0) + 1
    db.add(AuditEntry(seq=seq, at=datetime(day.year, day.month, day.day, 12, tzinfo=UTC).isoformat(),
                      actor="recipient:1", action=action, report_id=report.id, body_id=None,
                      detail=json.dumps(detail), prev_hash="0" * 64, hash="0" * 64))
    db.flush()


@pytest.fixture
def mixed_year(app: Flask) -> None:
    """Last year's reports, with several categories too small to publish."""
    with Session(_engine(app)) as db:
        for _ in range(12):
            _add_report(db, subject="procurement", status="closed")
        for _ in range(7):
            _add_report(db, subject="bribery", status="investigating", route=("ombudsman",))
        for _ in range(3):  # small: merged into "other", then <5
            _add_report(db, subject="sextortion", status="received", escalated_to=("ombudsman",))
        _add_report(db, subject="nepotism", status="referred", fallback=True, escalated_to=(None,))
        db.commit()


def _is_safe(shown: str) -> bool:
    return shown in (SMALL, WITHHELD, "0") or (shown.isdigit() and int(shown) >= THRESHOLD)


# --- the one suppression function --------------------------------------------------


def test_a_count_below_five_is_printed_as_less_than_five() -> None:
    cells, total = suppress({"yes": 3, "no": 20}, str, merge_small=False, total=23)
    assert {c.key: c.shown for c in cells} == {"yes": SMALL, "no": WITHHELD}
    assert all(c.value is None for c in cells)  # nothing to print by mistake
    assert total is not None and total.shown == "23"


def test_complementary_suppression_withholds_the_smallest_other_cell() -> None:
    cells, total = suppress({"a": 30, "b": 9, "c": 6, "d": 2}, str, total=47)
    shown = {c.key: c.shown for c in cells}
    # d alone would be 47 - 30 - 9 - 6 = 2: so the smallest other cell (c) is withheld.
    assert shown == {"a": "30", "b": "9", "c": WITHHELD, OTHER: SMALL}
    assert total is not None and total.shown == "47"


def test_categories_under_five_are_merged_into_other() -> None:
    cells, _total = suppress({"a": 8, "b": 2, "c": 3, OTHER: 1}, str, total=14)
    assert {c.key: c.shown for c in cells} == {"a": "8", OTHER: "6"}


def test_a_small_total_is_suppressed_too() -> None:
    cells, total = suppress({"a": 2, "b": 1}, str, total=3)
    assert [c.shown for c in cells] == [SMALL] and total is not None and total.shown == SMALL


def test_no_suppressed_cell_can_ever_be_derived_by_subtraction() -> None:
    rng = random.Random(1937)
    for _ in range(2000):
        counts = {f"k{i}": rng.choice([0, 1, 2, 3, 4, 5, 6, 9, 14, 40]) for i in range(rng.randint(1, 6))}
        total = sum(counts.values())
        cells, total_cell = suppress(counts, str, merge_small=rng.random() < 0.5, total=total)
        assert all(_is_safe(c.shown) for c in (*cells, total_cell) if c is not None), counts
        hidden = [c for c in cells if c.value is None]
        # One hidden cell and a printed total would give it away: never exactly one.
        assert len(hidden) != 1 or total_cell is None or total_cell.value is None, counts


# --- the figures ---------------------------------------------------------------------


def test_statistics_count_reports_by_subject_status_route_escalation_and_fallback(
    app: Flask, mixed_year: None
) -> None:
    with app.test_request_context(), Session(_engine(app)) as db:
        stats = compile_statistics(db, app.extensions["parrhesia.domain.host"], LAST_YEAR, on=date.today())
    assert stats.reports.shown == "23"
    tables = {t.key: {c.key: c.shown for c in t.cells} for t in stats.tables}
    assert tables["subject"] == {"procurement": "12", "bribery": WITHHELD, OTHER: SMALL}
    assert tables["status"] == {"closed": "12", "investigating": WITHHELD, OTHER: SMALL}
    assert tables["route"] == {"integrity-office": "16", "ombudsman": "7"}
    assert tables["escalated"] == {"not-escalated": WITHHELD, "escalated": SMALL}
    assert tables["escalation"] == {OTHER: SMALL}
    assert tables["fallback"] == {"planned": WITHHELD, "fallback": SMALL}
    labels = {c.key: c.label for t in stats.tables if t.key == "route" for c in t.cells}
    assert labels["integrity-office"] == "Integrity Office"


def test_acknowledgement_in_time_and_median_days_to_feedback(app: Flask) -> None:
    with Session(_engine(app)) as db:
        for days in (1, 3, 5, 6, 7, 7):  # met on or before the due day (7 days)
            report = _add_report(db)
            _ack_clock(report, "met")
            _audit(db, report, "acknowledge", report.created_on + timedelta(days=days), {"clocks_met": ["eu-acknowledge"]})
        for _ in range(3):  # missed
            _ack_clock(_add_report(db), "missed")
        for _ in range(2):  # acknowledged, but after the due day
            report = _add_report(db)
            _ack_clock(report, "met")
            _audit(db, report, "acknowledge", report.created_on + timedelta(days=9), {"clocks_met": ["eu-acknowledge"]})
        for days in (30, 40, 50, 60, 90):
            report = _add_report(db)
            _audit(db, report, "reply", report.created_on + timedelta(days=days // 2), {"feedback": False, "clocks_met": []})
            _audit(db, report, "reply", report.created_on + timedelta(days=days), {"feedback": True, "clocks_met": []})
        db.commit()
        with app.test_request_context():
            stats = compile_statistics(db, app.extensions["parrhesia.domain.host"], LAST_YEAR, on=date.today())
    acknowledgement = next(t for t in stats.tables if t.key == "acknowledgement")
    assert {c.key: c.shown for c in acknowledgement.cells} == {"in-time": "6", "late": "5"}
    measures = {m.key: m.shown for m in stats.measures}
    assert measures == {"acknowledged-in-time": "55%", "reports-with-feedback": "5", "median-days-to-feedback": "50"}


def test_a_share_or_median_of_too_few_reports_is_not_published(app: Flask) -> None:
    with Session(_engine(app)) as db:
        for _ in range(6):
            _ack_clock(_add_report(db), "met")
        report = _add_report(db)
        _ack_clock(report, "missed")
        _audit(db, report, "reply", report.created_on + timedelta(days=12), {"feedback": True})
        db.commit()
        with app.test_request_context():
            stats = compile_statistics(db, app.extensions["parrhesia.domain.host"], LAST_YEAR, on=date.today())
    measures = {m.key: m.shown for m in stats.measures}
    # 6 in time and 1 late: "86%" would reveal the single late report.
    assert measures == {"acknowledged-in-time": None, "reports-with-feedback": SMALL, "median-days-to-feedback": None}


# --- every output -------------------------------------------------------------------


def _printed_counts(page: str) -> list[str]:
    """Every figure in the page's tables and charts."""
    cells = re.findall(r"<td>([^<]*)</td>", page)
    svg_values = re.findall(r'<text x="\d+" y="\d+" font-size="13" fill="#1d2327">([^<]*)</text>', page)
    return [html.unescape(v) for v in (*cells, *svg_values[1::2])]  # SVG text alternates label, value


def test_public_page_renders_svg_charts_without_script_and_no_count_below_five(
    client: FlaskClient, mixed_year: None
) -> None:
    response = client.get("/statistics")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"Reports received in {LAST_YEAR}: 23" in page
    assert "<svg" in page and "<rect" in page
    assert "<script" not in page.lower() and re.search(r"<[^>]+\son\w+=", page) is None
    assert "script-src" not in response.headers["Content-Security-Policy"]
    printed = _printed_counts(page)
    assert printed and all(_is_safe(value) for value in printed), printed
    assert SMALL in printed and WITHHELD in printed


def test_csv_export_prints_no_count_below_five(client: FlaskClient, mixed_year: None) -> None:
    response = client.get(f"/statistics.csv?year={LAST_YEAR}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert f"statistics-{LAST_YEAR}.csv" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["year", "table", "category", "count"]
    counts = [row[3] for row in rows[1:] if row[1] != "measure"]
    assert counts and all(_is_safe(value) for value in counts), counts
    assert [str(LAST_YEAR), "subject", OTHER, SMALL] in rows


def test_command_line_statistics_print_no_count_below_five(app: Flask, mixed_year: None) -> None:
    text = CliRunner().invoke(main, ["statistics", "--instance", _folder(app), "--year", str(LAST_YEAR)])
    assert text.exit_code == 0, text.output
    figures = re.findall(r"^  .*?\s(\S+)$", text.output, flags=re.MULTILINE)
    assert figures and all(_is_safe(value) for value in figures), figures
    as_csv = CliRunner().invoke(main, ["statistics", "--instance", _folder(app), "--year", str(LAST_YEAR), "--csv"])
    rows = list(csv.reader(io.StringIO(as_csv.output)))
    assert all(_is_safe(row[3]) for row in rows[1:] if row[1] != "measure")
    assert [str(LAST_YEAR), "reports", "total", "23"] in rows


def test_the_public_page_shows_only_completed_years(client: FlaskClient, app: Flask) -> None:
    with Session(_engine(app)) as db:
        for _ in range(6):
            _add_report(db, created_on=date.today())
        db.commit()
    page = client.get("/statistics").get_data(as_text=True)
    assert "published for whole years only" in page and "<svg" not in page
    this_year = date.today().year
    assert client.get(f"/statistics?year={this_year}").status_code == 404
    assert client.get(f"/statistics.csv?year={this_year}").status_code == 404
    assert client.get("/statistics.csv").status_code == 404


def _with_statistics_settings(app: Flask, settings: str) -> Flask:
    folder = Path(_folder(app))
    with (folder / "parrhesia.toml").open("a", encoding="utf-8") as handle:
        handle.write(f"\n[statistics]\n{settings}\n")
    return create_app(folder, {"TESTING": True})


def test_an_instance_can_turn_the_public_statistics_off(app: Flask, mixed_year: None) -> None:
    private = _with_statistics_settings(app, "public = false")
    try:
        client = private.test_client()
        assert client.get("/statistics").status_code == 404
        assert client.get(f"/statistics.csv?year={LAST_YEAR}").status_code == 404
    finally:
        private.extensions["parrhesia.instance"].dispose()


def test_a_mistyped_statistics_setting_stops_start_up(app: Flask) -> None:
    from parrhesia.config import ConfigError

    with pytest.raises(ConfigError, match="statistics.public"):
        _with_statistics_settings(app, 'public = "no"')


# --- who reports: optional, apart from the reports ----------------------------------


def test_demographics_table_has_no_link_to_reports(app: Flask) -> None:
    columns = {c["name"] for c in inspect(_engine(app)).get_columns("demographic_counts")}
    assert columns == {"year", "question", "answer", "count"}
    assert inspect(_engine(app)).get_foreign_keys("demographic_counts") == []
    assert not DemographicCount.__table__.foreign_keys


def test_questions_are_offered_after_the_codename_and_every_one_can_be_declined(client: FlaskClient) -> None:
    response, codename = submit_report(client, "A report")
    assert codename and "/about-you" in response.get_data(as_text=True)
    page = client.get("/about-you").get_data(as_text=True)
    assert "Help us understand who reports" in page and "<script" not in page
    assert page.count(f'value="{PREFER_NOT_TO_SAY}"') == len(QUESTIONS)
    assert "required" not in page


def test_answers_only_add_to_yearly_counters(client: FlaskClient, app: Flask) -> None:
    submit_report(client, "A report")
    token = csrf_token(client.get("/about-you").data)
    response = client.post("/about-you", data={"csrf_token": token, "gender": "woman", "role": "insider"})
    assert response.status_code == 200 and "Thank you" in response.get_data(as_text=True)
    with Session(_engine(app)) as db:
        rows = {(r.year, r.question, r.answer): r.count for r in db.scalars(select(DemographicCount))}
    year = app.extensions["parrhesia.domain.host"].config.today().year
    assert rows == {(year, "gender", "woman"): 1, (year, "role", "insider"): 1, (year, "age", PREFER_NOT_TO_SAY): 1}
    # Not asked twice in the same session.
    again = client.get("/about-you").get_data(as_text=True)
    assert "Thank you" in again and 'type="radio"' not in again


def test_questions_need_a_source_session_and_a_csrf_token(client: FlaskClient, app: Flask) -> None:
    assert client.get("/about-you").status_code == 303
    token = csrf_token(client.get("/login").data)
    assert client.post("/about-you", data={"csrf_token": token, "gender": "man"}).status_code == 303
    submit_report(client, "A report")
    assert client.post("/about-you", data={"gender": "man"}).status_code == 400
    with Session(_engine(app)) as db:
        assert db.scalars(select(DemographicCount)).all() == []


def test_demographics_are_published_only_in_aggregate(app: Flask) -> None:
    from parrhesia.domain.demographics import record_answers

    with Session(_engine(app)) as db:
        _add_report(db)
        for _ in range(9):
            record_answers(db, {"gender": "woman", "role": "victim"}, year=LAST_YEAR)
        for _ in range(2):
            record_answers(db, {"gender": "man", "role": "witness"}, year=LAST_YEAR)
        db.commit()
        with app.test_request_context():
            stats = compile_statistics(db, app.extensions["parrhesia.domain.host"], LAST_YEAR, on=date.today())
    tables = {t.key: ({c.key: c.shown for c in t.cells}, t.total.shown if t.total else None) for t in stats.demographics}
    assert tables["demographics-gender"] == ({"woman": WITHHELD, OTHER: SMALL}, "11")
    assert tables["demographics-role"] == ({"victim": WITHHELD, OTHER: SMALL}, "11")
    assert tables["demographics-age"] == ({PREFER_NOT_TO_SAY: "11"}, "11")


def test_questions_can_be_turned_off(app: Flask) -> None:
    quiet = _with_statistics_settings(app, "demographics = false")
    try:
        client = quiet.test_client()
        response, codename = submit_report(client, "A report")
        assert codename and "/about-you" not in response.get_data(as_text=True)
        assert client.get("/about-you").status_code == 404
    finally:
        quiet.extensions["parrhesia.instance"].dispose()


def test_statistics_page_in_french(client: FlaskClient, mixed_year: None) -> None:
    page = client.get("/statistics?lang=fr").get_data(as_text=True)
    assert "Statistiques" in page and f"Signalements reçus en {LAST_YEAR} : 23" in page


def test_figures_follow_what_the_desk_records(app: Flask) -> None:
    """Acknowledging and replying through casework are what the figures read."""
    from parrhesia.domain import casework
    from parrhesia.storage.models import Recipient
    from parrhesia.testing import add_test_recipient

    officer_id = add_test_recipient(app, "integrity-office").id
    today = date.today()  # the day casework is dated
    with Session(_engine(app)) as db:
        officer = db.get(Recipient, officer_id)
        assert officer is not None
        for _ in range(5):
            report = _add_report(db, created_on=today)
            _ack_clock(report, "running")
            db.commit()
            casework.acknowledge(db, officer, report, on=today)
            casework.record_reply(db, officer, report, part_id=secrets.token_hex(16), blob="b", size=1, feedback=True,
                                   on=today)
        with app.test_request_context():
            stats = compile_statistics(db, app.extensions["parrhesia.domain.host"], today.year, on=today)
    acknowledgement = next(t for t in stats.tables if t.key == "acknowledgement")
    assert {c.key: c.shown for c in acknowledgement.cells} == {"in-time": "5"}
    assert {m.key: m.shown for m in stats.measures} == {
        "acknowledged-in-time": "100%", "reports-with-feedback": "5", "median-days-to-feedback": "0",
    }
