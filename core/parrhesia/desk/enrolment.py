"""First log-in of a recipient: TOTP enrolment after a correct password.

A recipient created with a desk log-in has a TOTP secret nobody has seen yet
(``totp_last_step`` is None). After their password is accepted — throttled and locked
exactly like a full log-in — they get a fresh secret, shown once as a QR code, and
complete the log-in with a first code from it. The same counters as
:func:`parrhesia.accounts.check_login` apply to both steps.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from parrhesia.accounts import (
    LOCK_MINUTES,
    MAX_FAILURES,
    Account,
    LoginRefused,
    _password_matches,
    _valid_step,
    new_totp_secret,
    utcnow,
)

__all__ = ["needs_enrolment", "check_password", "begin", "confirm_code"]


def needs_enrolment(account: Account) -> bool:
    return account.totp_last_step is None


def _fail(account: Account, now: datetime) -> None:
    account.failed_logins = (account.failed_logins or 0) + 1
    if account.failed_logins >= MAX_FAILURES:
        account.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        account.failed_logins = 0
    raise LoginRefused("wrong password or code")


def _refuse_if_locked(account: Account, now: datetime) -> None:
    if account.locked_until is not None and account.locked_until > now:
        raise LoginRefused("locked")


def check_password(account: Account, password: str, *, now: datetime | None = None) -> None:
    """The password alone, for an account that has no TOTP yet; LoginRefused if wrong or locked.

    The caller commits the account afterwards, whether it succeeded or not.
    """
    now = now or utcnow()
    if account.password_hash is None or not needs_enrolment(account):
        raise LoginRefused("not enrolling")
    _refuse_if_locked(account, now)
    if not _password_matches(account.password_hash, password):
        _fail(account, now)
    account.failed_logins = 0


def begin(account: Account) -> str:
    """A fresh secret for the authenticator app (any secret made earlier is discarded)."""
    account.totp_secret = new_totp_secret()
    return account.totp_secret


def confirm_code(account: Account, code: str, *, now: datetime | None = None) -> None:
    """Accept the first code of the new secret: the account is enrolled from now on."""
    now = now or utcnow()
    if account.totp_secret is None or not needs_enrolment(account):
        raise LoginRefused("not enrolling")
    _refuse_if_locked(account, now)
    step = _valid_step(account.totp_secret, code, now)
    if step is None:
        _fail(account, now)
    account.totp_last_step = step
    account.failed_logins = 0
    account.locked_until = None
