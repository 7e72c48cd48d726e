"""Floods that cost the attacker (issue 16, item 3): forms that ask for a wait or a proof
of work once many are asked for, ceilings on what the server takes per minute, and
figures for operators. parrhesia.domain.flood holds the rules; parrhesia.web.source.work
applies them to the submission and log-in forms."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parrhesia.config import ConfigError, FloodSettings, load_config
from parrhesia.domain import flood
from parrhesia.domain.flood import Challenge, FloodMeter, Verdict, solves
from parrhesia.storage.models import Part, Report
from parrhesia.testing import add_test_recipient, csrf_token, log_in, review_route, submit_report, work_fields
from parrhesia.web.source.work import FLOOD_METER

KEY = b"k" * 32


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _meter(**settings: int) -> tuple[FloodMeter, Clock]:
    clock = Clock()
    return FloodMeter(FloodSettings(**settings), KEY, clock), clock


def solve(token: str, bits: int) -> str:
    """What a browser's script (or an attacker) computes instead of waiting."""
    for n in itertools.count():
        if solves(token, str(n), bits):
            return str(n)
    raise AssertionError("unreachable")


# --- the rules -------------------------------------------------------------------------


def test_outside_a_flood_a_form_asks_nothing() -> None:
    meter, _ = _meter(forms_per_minute=5)
    for _ in range(5):
        token, challenge = meter.issue("submit")
        assert (challenge.wait, challenge.bits) == (0, 0)
        assert meter.check(token, "", kind="submit", max_age=3600).verdict is Verdict.ACCEPTED


def test_each_doubling_of_the_rate_doubles_the_wait_and_adds_a_bit() -> None:
    meter, clock = _meter(forms_per_minute=4, submit_wait=10, bits=12, max_level=3)
    asked = [meter.issue("submit")[1] for _ in range(40)]
    # 5th to 8th form: level 1; 9th to 16th: level 2; then capped at level 3.
    assert [(c.wait, c.bits) for c in asked[4:8]] == [(10, 12)] * 4
    assert [(c.wait, c.bits) for c in asked[8:16]] == [(20, 13)] * 8
    assert {(c.wait, c.bits) for c in asked[16:]} == {(40, 14)}
    assert meter.figures()["level:submit"] == 3 and meter.figures()["issued:submit"] == 40
    # Log-in forms are counted apart, with their own wait.
    assert meter.issue("login")[1].wait == 0
    clock.now += 61  # a quiet minute later, forms ask nothing again
    assert meter.issue("submit")[1].wait == 0 and meter.level("submit") == 0


def test_a_challenge_is_accepted_after_its_wait_or_with_a_solution_never_forged() -> None:
    meter, clock = _meter(forms_per_minute=1, submit_wait=30, bits=10)
    meter.issue("submit")
    token, challenge = meter.issue("submit")
    assert challenge.wait == 30
    early = meter.check(token, "", kind="submit", max_age=3600)
    assert early.verdict is Verdict.EARLY and early.seconds_left == 30
    assert meter.check(token, "not a solution", kind="submit", max_age=3600).verdict is Verdict.EARLY
    assert meter.check(token, solve(token, 10), kind="submit", max_age=3600).verdict is Verdict.ACCEPTED
    # Asking less of oneself breaks the signature; so does another kind or another key.
    easier = Challenge(challenge.kind, challenge.issued, 0, 0, challenge.nonce).payload() + token[token.rindex("."):]
    assert meter.check(easier, "", kind="submit", max_age=3600).verdict is Verdict.INVALID
    assert meter.check(token, "", kind="login", max_age=3600).verdict is Verdict.INVALID
    assert FloodMeter(FloodSettings(), b"other" * 7).check(token, "", kind="submit", max_age=3600).verdict is Verdict.INVALID
    clock.now += 30
    assert meter.check(token, "", kind="submit", max_age=3600).verdict is Verdict.ACCEPTED
    clock.now += 3600
    assert meter.check(token, "", kind="submit", max_age=3600).verdict is Verdict.INVALID  # expired
    figures = meter.figures()
    assert (figures["early:submit"], figures["invalid:submit"], figures["invalid:login"]) == (2, 2, 1)


def test_a_solution_needs_its_leading_zero_bits() -> None:
    token = "w1.submit.1.10.16.abcd.0123"
    found = solve(token, 16)
    digest = hashlib.sha256(f"{token}:{found}".encode()).digest()
    assert digest[:2] == b"\0\0"
    assert not solves(token, str(int(found) + 1), 16) or hashlib.sha256(
        f"{token}:{int(found) + 1}".encode()).digest()[:2] == b"\0\0"
    assert not solves(token, "x" * 65, 1)


def test_the_ceiling_takes_so_many_a_minute_then_says_when_to_come_back() -> None:
    meter, clock = _meter(submissions_per_minute=3)
    assert [meter.take("submit") for _ in range(3)] == [0, 0, 0]
    clock.now += 20
    assert meter.take("submit") == 40  # the first three leave the window in 40 s
    assert meter.take("login") == 0  # log-ins have their own ceiling
    clock.now += 40
    assert meter.take("submit") == 0
    assert meter.figures()["ceiling:submit"] == 1 and meter.figures()["taken:submit"] == 4


def test_flood_settings_are_checked(tmp_path: Path, instance_dir: Path) -> None:
    config = instance_dir / "parrhesia.toml"
    original = config.read_text()
    config.write_text(original + "\n[flood]\nforms_per_minute = 7\nsubmit_wait = 45\n")
    assert load_config(instance_dir).flood == FloodSettings(forms_per_minute=7, submit_wait=45)
    for bad in ("forms_per_minute = 0", "bits = 99", "submit_wait = true", "form_per_minute = 3"):
        config.write_text(original + f"\n[flood]\n{bad}\n")
        with pytest.raises(ConfigError, match="flood"):
            load_config(instance_dir)


# --- the source's forms ------------------------------------------------------------------


@pytest.fixture
def flood_app(instance_dir: Path) -> Iterator[Flask]:
    """An instance where two forms a minute make a flood, taking two reports a minute."""
    config = instance_dir / "parrhesia.toml"
    config.write_text(config.read_text() + "\n[flood]\nforms_per_minute = 2\nsubmissions_per_minute = 2\n"
                      "logins_per_minute = 2\nsubmit_wait = 30\nlogin_wait = 5\nbits = 8\n")
    from parrhesia.web.app import create_app

    app = create_app(instance_dir, {"TESTING": True})
    for body_id in ("integrity-office", "ombudsman"):
        add_test_recipient(app, body_id, "Standing reader")
    yield app
    app.extensions["parrhesia.instance"].dispose()


def _clock(app: Flask) -> Clock:
    clock = Clock()
    app.extensions[FLOOD_METER].clock = clock
    return clock


def _reports(app: Flask) -> int:
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        return int(db.scalar(select(func.count()).select_from(Report)) or 0)


def _blobs(app: Flask) -> list[Path]:
    root = app.extensions["parrhesia.instance"].config.blob_dir
    return [p for p in root.rglob("*") if p.is_file()]


def _post(client: FlaskClient, review: Any, message: str, solution: str = "") -> Any:
    page = review.data
    work = work_fields(page)
    if solution:
        work["work_solution"] = solution
    return client.post("/submit", data={"csrf_token": csrf_token(page), **work, "message": message,
                                        "attachments": [(io.BytesIO(b"evidence"), "e.txt")]},
                       content_type="multipart/form-data")


def test_during_a_flood_a_report_sent_too_early_is_refused_with_nothing_stored(flood_app: Flask) -> None:
    clock = _clock(flood_app)
    client = flood_app.test_client()
    review_route(client), review_route(client)
    flooded = review_route(client)
    page = flooded.get_data(as_text=True)
    assert "can be sent 30 seconds after it was opened" in page
    refused = _post(client, flooded, "sent at once")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert "Nothing was stored" in refused.get_data(as_text=True)
    assert _reports(flood_app) == 0 and _blobs(flood_app) == []
    # The source who writes for 30 seconds (or whose browser solves the puzzle) gets through.
    clock.now += 30
    waited = _post(client, flooded, "written slowly")
    assert waited.status_code == 200 and 'id="codename"' in waited.get_data(as_text=True)
    solved_page = review_route(client)
    token = work_fields(solved_page.data)["work_challenge"]
    bits = int(token.split(".")[4])
    assert _post(client, solved_page, "solved", solve(token, bits)).status_code == 200
    assert _reports(flood_app) == 2


def test_a_challenge_carries_one_report_even_with_a_fresh_form_token(flood_app: Flask) -> None:
    client = flood_app.test_client()
    review = review_route(client)
    assert _post(client, review, "first").status_code == 200
    # A second page's CSRF token with the first page's (waited-for) challenge.
    fresh = csrf_token(review_route(client).data)
    again = client.post("/submit", data={"csrf_token": fresh, **work_fields(review.data), "message": "replayed"},
                        content_type="multipart/form-data")
    assert again.status_code == 400 and "sent already" in again.get_data(as_text=True)
    assert _reports(flood_app) == 1
    assert flood_app.extensions[FLOOD_METER].figures()["replayed:submit"] == 1


def test_over_the_ceiling_a_report_is_refused_before_it_costs_anything(flood_app: Flask) -> None:
    clock = _clock(flood_app)
    sources = [flood_app.test_client() for _ in range(3)]
    pages = [review_route(source) for source in sources]
    clock.now += 120  # every wait is over; only the ceiling (two a minute) stands
    assert [_post(sources[n], pages[n], f"report {n}").status_code for n in range(2)] == [200, 200]
    over = _post(sources[2], pages[2], "one too many")
    assert over.status_code == 503 and 1 <= int(over.headers["Retry-After"]) <= 60
    assert "Nothing was sent or stored" in over.get_data(as_text=True)
    assert _reports(flood_app) == 2
    clock.now += 61
    assert _post(sources[2], review_route(sources[2]), "a minute later").status_code == 200


def test_a_form_without_its_challenge_stores_nothing(flood_app: Flask) -> None:
    client = flood_app.test_client()
    page = review_route(client).data
    response = client.post("/submit", data={"csrf_token": csrf_token(page), "message": "no challenge"},
                           content_type="multipart/form-data")
    assert response.status_code == 400 and _reports(flood_app) == 0 and _blobs(flood_app) == []


def test_log_in_during_a_flood_waits_and_each_challenge_is_one_guess(flood_app: Flask) -> None:
    clock = _clock(flood_app)
    response, codename = submit_report(flood_app.test_client(), "A report to come back to.")
    assert codename
    source = flood_app.test_client()
    for _ in range(3):
        page = source.get("/login").data
    work = work_fields(page)
    early = source.post("/login", data={"csrf_token": csrf_token(page), **work, "codename": codename})
    assert early.status_code == 429 and early.headers["Retry-After"] == "5"
    # The same form comes back with the same challenge, to send again once the wait is over.
    assert work_fields(early.data) == work
    clock.now += 5
    done = source.post("/login", data={"csrf_token": csrf_token(page), **work, "codename": codename})
    assert done.status_code == 303
    # Used once: a second guess with it is refused before any derivation.
    other = flood_app.test_client()
    other_page = other.get("/login").data
    replay = other.post("/login", data={"csrf_token": csrf_token(other_page), **work, "codename": "wrong guess"})
    assert replay.status_code == 400 and "sent already" in replay.get_data(as_text=True)


def test_log_ins_over_the_ceiling_are_refused_before_the_derivation(flood_app: Flask,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _clock(flood_app)
    derived: list[str] = []
    from parrhesia.web.source import casefile

    real = casefile.derive_source_identity
    monkeypatch.setattr(casefile, "derive_source_identity", lambda *a: derived.append("x") or real(*a))
    pages = [(client, client.get("/login").data) for client in (flood_app.test_client() for _ in range(3))]
    clock.now += 60
    answers = [client.post("/login", data={"csrf_token": csrf_token(page), **work_fields(page), "codename": "a b c d"})
               for client, page in pages]
    assert [a.status_code for a in answers] == [403, 403, 503]
    assert len(derived) == 2 and "Try again in" in answers[2].get_data(as_text=True)


def test_the_demo_defaults_ask_nothing_of_a_lone_source(app: Flask, client: FlaskClient) -> None:
    assert "can be sent" not in review_route(client).get_data(as_text=True)
    assert log_in(client, "no such codename here at all").status_code == 403


# --- one meter for every serving process --------------------------------------------------


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `parrhesia serve` does in gunicorn's master before it forks the workers."""
    monkeypatch.setattr(flood, "_shared", None)
    flood.share_between_processes()


def _forked(work: Callable[[], int]) -> int:
    """Run ``work`` in a forked process, as a gunicorn worker runs; its exit status is the answer."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            code = work()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_forked_serving_processes_share_one_ceiling_and_one_set_of_figures(shared: None) -> None:
    meter, clock = _meter(submissions_per_minute=10)

    def worker() -> int:  # each worker builds its app, and so its meter, after the fork
        own = FloodMeter(FloodSettings(submissions_per_minute=10), KEY, clock)
        return sum(1 for _ in range(5) if own.take("submit") == 0)

    taken = [_forked(worker) for _ in range(4)]
    assert sum(taken) == 10, taken  # not 4 × 10: the ceiling is the instance's
    figures = meter.figures()
    assert figures["taken:submit"] == 10 and figures["ceiling:submit"] == 10


def test_a_worker_killed_while_counting_blocks_no_other(shared: None) -> None:
    meter, _ = _meter(submissions_per_minute=10)

    def killed_holding_the_lock() -> int:
        with meter._store.locked():
            os.kill(os.getpid(), signal.SIGKILL)
        return 0

    assert _forked(killed_holding_the_lock) == -signal.SIGKILL
    answers: list[int] = []
    taker = threading.Thread(target=lambda: answers.append(meter.take("submit")), daemon=True)
    taker.start()
    taker.join(timeout=10)
    assert answers == [0], "the lock of a dead worker was never released"


def test_follow_ups_over_the_instance_ceiling_are_refused_before_their_content_is_read(
    instance_dir: Path,
) -> None:
    config = instance_dir / "parrhesia.toml"
    config.write_text(config.read_text() + "\n[flood]\nfollow_ups_per_minute = 2\n")
    from parrhesia.web.app import create_app

    app = create_app(instance_dir, {"TESTING": True})
    try:
        for body_id in ("integrity-office", "ombudsman"):
            add_test_recipient(app, body_id, "Standing reader")
        clock = _clock(app)
        client = app.test_client()
        submit_report(client, "the first report")

        def follow_up(text: str) -> Any:
            page = client.get("/report").data
            return client.post("/report", data={"csrf_token": csrf_token(page), "message": text,
                                                "attachments": [(io.BytesIO(b"more evidence"), "more.txt")]},
                               content_type="multipart/form-data")

        with Session(app.extensions["parrhesia.instance"].engine) as db:
            before = int(db.scalar(select(func.count()).select_from(Part)) or 0)
        blobs = len(_blobs(app))
        assert [follow_up(f"more {n}").status_code for n in range(2)] == [303, 303]
        refused = follow_up("one too many")
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) == 60
        assert "more messages than it can take" in refused.get_data(as_text=True)
        with Session(app.extensions["parrhesia.instance"].engine) as db:
            assert int(db.scalar(select(func.count()).select_from(Part)) or 0) == before + 4
        assert len(_blobs(app)) == blobs + 4
        clock.now += 60
        assert follow_up("a minute later").status_code == 303
        assert app.extensions[FLOOD_METER].figures()["ceiling:follow-up"] == 1
    finally:
        app.extensions["parrhesia.instance"].dispose()
