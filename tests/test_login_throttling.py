"""Desk log-in (issue 16 item 4): the same work on every path, and throttling that
delays guessing without ever locking the real user out.

The timing test is a tolerance, not a benchmark: medians of interleaved runs, within
a factor of 1.5 of each other. It goes red with the old equaliser (a hash made with
the minimum Argon2id parameters for unknown accounts, and an early return for locked
ones), which answered in a few milliseconds instead of ~50.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest

from parrhesia.domain import accounts
from parrhesia.domain.accounts import (
    FREE_FAILURES,
    MAX_DELAY,
    LoginRefused,
    check_enrolment_password,
    check_login,
    confirm_enrolment,
    delay_after,
    hash_password,
    new_totp_secret,
)

PASSWORD = "the real user's long password"
NOW = datetime(2026, 12, 2, 12, 0, 0)


@dataclass
class FakeAccount:
    login_name: str | None
    password_hash: str | None
    totp_secret: str | None
    totp_last_step: int | None = 0
    failed_logins: int = 0
    locked_until: datetime | None = None


@pytest.fixture(scope="module")
def stored_hash() -> str:
    return hash_password(PASSWORD)


def _account(stored_hash: str) -> FakeAccount:
    return FakeAccount("officer", stored_hash, new_totp_secret())


def _code(account: FakeAccount, at: datetime, offset: int = 0) -> str:
    assert account.totp_secret is not None
    return pyotp.TOTP(account.totp_secret).at(at.replace(tzinfo=UTC) + timedelta(seconds=30 * offset))


def _refused(check: Callable[..., None], *args: object, now: datetime) -> LoginRefused:
    with pytest.raises(LoginRefused) as caught:
        check(*args, now=now)
    return caught.value


# ---------------------------------------------------------------- the delay


def test_the_delay_grows_exponentially_after_the_free_failures_and_is_capped() -> None:
    assert [delay_after(n) for n in range(FREE_FAILURES)] == [timedelta(0)] * FREE_FAILURES
    assert [delay_after(FREE_FAILURES + k).total_seconds() for k in range(5)] == [1, 2, 4, 8, 16]
    assert delay_after(FREE_FAILURES + 20) == MAX_DELAY == delay_after(10**9)
    assert MAX_DELAY <= timedelta(minutes=15)


def test_an_early_attempt_is_refused_uncounted_and_the_right_factors_win_once_the_wait_is_over(
    stored_hash: str,
) -> None:
    account = _account(stored_hash)
    now = NOW
    for _ in range(FREE_FAILURES):
        assert not _refused(check_login, account, "a wrong password!!", _code(account, now), now=now).throttled
    assert account.failed_logins == FREE_FAILURES and account.locked_until == now + timedelta(seconds=1)
    # right password and code, too early: refused, not counted, the code not used up
    early = _refused(check_login, account, PASSWORD, _code(account, now), now=now)
    assert early.throttled and str(early) == "too early"
    assert account.failed_logins == FREE_FAILURES and account.locked_until == now + timedelta(seconds=1)
    # wrong password, too early: the same refusal, not counted either
    assert _refused(check_login, account, "a wrong password!!", _code(account, now), now=now).throttled
    assert account.failed_logins == FREE_FAILURES
    later = now + timedelta(seconds=1)
    check_login(account, PASSWORD, _code(account, later), now=later)
    assert (account.failed_logins, account.locked_until) == (0, None)


def test_an_attacker_can_only_ever_push_the_wait_to_the_cap(stored_hash: str) -> None:
    account = _account(stored_hash)
    now = NOW
    waits = []
    for _ in range(FREE_FAILURES + 20):  # an attacker trying the moment each wait is over
        _refused(check_login, account, "a wrong password!!", "000000", now=now)
        wait = (account.locked_until or now) - now
        waits.append(wait)
        now += wait
    assert waits[-1] == MAX_DELAY and max(waits) == MAX_DELAY
    # hammering during the wait changes nothing
    ready = account.locked_until
    for seconds in range(0, int(MAX_DELAY.total_seconds()), 37):
        early = now - MAX_DELAY + timedelta(seconds=seconds)
        assert _refused(check_login, account, "a wrong password!!", "000000", now=early).throttled
    assert account.locked_until == ready and ready is not None
    check_login(account, PASSWORD, _code(account, ready), now=ready)
    assert (account.failed_logins, account.locked_until) == (0, None)


def test_first_log_in_steps_are_throttled_the_same_way(stored_hash: str) -> None:
    account = FakeAccount("newcomer", stored_hash, new_totp_secret(), totp_last_step=None)
    now = NOW
    for _ in range(FREE_FAILURES):
        _refused(check_enrolment_password, account, "a wrong password!!", now=now)
    assert _refused(check_enrolment_password, account, PASSWORD, now=now).throttled
    assert account.failed_logins == FREE_FAILURES
    later = now + timedelta(seconds=1)
    check_enrolment_password(account, PASSWORD, now=later)
    assert (account.failed_logins, account.locked_until) == (0, None)
    for _ in range(FREE_FAILURES):
        _refused(confirm_enrolment, account, "not a code", now=later)
    assert _refused(confirm_enrolment, account, _code(account, later), now=later).throttled
    ready = later + timedelta(seconds=1)
    confirm_enrolment(account, _code(account, ready), now=ready)
    assert account.totp_last_step is not None and account.failed_logins == 0


def test_the_dummy_hash_has_the_parameters_of_stored_hashes(stored_hash: str) -> None:
    def parameters(encoded: str) -> str:
        return encoded.split("$")[3]  # $argon2id$v=19$m=…,t=…,p=…$salt$hash

    assert parameters(accounts._dummy_hash().decode("ascii")) == parameters(stored_hash)


# ---------------------------------------------------------------- the same work on every path


def _timed(call: Callable[[], None], samples: list[float]) -> None:
    start = time.perf_counter()
    try:
        call()
    except LoginRefused:
        pass
    samples.append(time.perf_counter() - start)


def test_unknown_existing_and_throttled_accounts_take_the_same_time(stored_hash: str) -> None:
    existing = _account(stored_hash)
    throttled = _account(stored_hash)
    now = NOW

    def unknown_account() -> None:
        check_login(None, "a guessed password", "123456", now=now)

    def wrong_password() -> None:
        existing.failed_logins, existing.locked_until = 0, None  # stays unthrottled
        check_login(existing, "a guessed password", _code(existing, now), now=now)

    def throttled_wrong() -> None:
        throttled.failed_logins, throttled.locked_until = 50, now + MAX_DELAY
        check_login(throttled, "a guessed password", "123456", now=now)

    def throttled_right() -> None:
        throttled.failed_logins, throttled.locked_until = 50, now + MAX_DELAY
        check_login(throttled, PASSWORD, _code(throttled, now), now=now)

    paths = {"unknown": unknown_account, "wrong password": wrong_password,
             "throttled": throttled_wrong, "throttled, right password": throttled_right}
    for call in paths.values():  # warm-up: the dummy hash is made at the first attempt
        _timed(call, [])
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(9):  # interleaved, so a noisy moment hits every path alike
        for name, call in paths.items():
            _timed(call, samples[name])
    medians = {name: statistics.median(values) for name, values in samples.items()}
    fastest, slowest = min(medians.values()), max(medians.values())
    shown = ", ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in medians.items())
    assert slowest <= 1.5 * fastest, f"log-in time depends on the account: {shown}"
    assert existing.failed_logins == 1 and throttled.failed_logins == 50, "each path did what it says"


# ---------------------------------------------------------------- attempts in parallel


def test_attempts_in_parallel_wait_as_attempts_in_a_row_do(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An attempt is counted before its password is checked, and committed: another one
    arriving meanwhile (here: while the first one's Argon2id runs) sees that failure and
    waits. Before, both read the same count and both got past the delay; and the first
    one held the database's write lock during its Argon2id."""
    from sqlalchemy.orm import Session

    from parrhesia.storage.models import Recipient
    from parrhesia.testing import add_test_recipient

    officer = add_test_recipient(app, "integrity-office", login_name="officer", password=PASSWORD)
    engine = app.extensions["parrhesia.instance"].engine
    with Session(engine) as db:
        record = db.get(Recipient, officer.id)
        assert record is not None and record.totp_secret is not None
        record.totp_last_step, record.failed_logins = 0, FREE_FAILURES - 1  # enrolled; one more failure waits
        secret = record.totp_secret
        db.commit()
    real_check = accounts._password_matches
    second: list[str] = []

    def meanwhile(stored: str, password: str) -> bool:
        if not second:  # the first attempt checks its password: the right one arrives now
            second.append("pending")
            with Session(engine) as other:
                try:
                    accounts.log_in(other, other.get(Recipient, officer.id), PASSWORD, pyotp.TOTP(secret).now())
                    second[0] = "logged in"
                except LoginRefused as refused:
                    second[0] = "throttled" if refused.throttled else "refused"
        return real_check(stored, password)

    monkeypatch.setattr(accounts, "_password_matches", meanwhile)
    with Session(engine) as db, pytest.raises(LoginRefused):
        accounts.log_in(db, db.get(Recipient, officer.id), "a wrong password!!", "000000")
    assert second == ["throttled"]
    with Session(engine) as db:
        record = db.get(Recipient, officer.id)
        assert record is not None and record.failed_logins == FREE_FAILURES
