"""Desk accounts: Argon2id passwords, mandatory TOTP without reuse, throttled log-ins.

Recipients and operators log in the same way; :class:`Account` is the common shape of
both tables. A TOTP code is accepted once: the time step it belongs to is recorded and
any code of that step or an earlier one is refused afterwards. After
``MAX_FAILURES`` failed attempts an account is locked for ``LOCK_MINUTES``, and every
attempt during the lock fails without checking anything.
"""

from __future__ import annotations

import io
import secrets
from datetime import UTC, datetime, timedelta
from typing import NoReturn, Protocol

import pyotp
from nacl.exceptions import InvalidkeyError
from nacl.pwhash import argon2id
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia import audit
from parrhesia.models import Operator, Recipient
from parrhesia.reports import today, token_hash

__all__ = [
    "MAX_FAILURES",
    "LOCK_MINUTES",
    "Account",
    "LoginRefused",
    "hash_password",
    "new_totp_secret",
    "provisioning_uri",
    "qr_svg",
    "check_login",
    "needs_enrolment",
    "check_enrolment_password",
    "begin_enrolment",
    "confirm_enrolment",
    "utcnow",
    "add_recipient",
    "login_name_taken",
]

MAX_FAILURES = 5
LOCK_MINUTES = 15
MIN_PASSWORD_LENGTH = 12
_STEP = 30


class Account(Protocol):
    # Read as optional (a recipient may not be set up yet; an operator always is),
    # so these are read-only members, or, for the secret, written only as a str.
    @property
    def login_name(self) -> str | None: ...

    @property
    def password_hash(self) -> str | None: ...

    @property
    def totp_secret(self) -> str | None: ...

    @totp_secret.setter
    def totp_secret(self, value: str) -> None: ...

    totp_last_step: int | None
    failed_logins: int
    locked_until: datetime | None


class LoginRefused(Exception):
    """A refused log-in; the message never says which factor was wrong."""


def utcnow() -> datetime:
    """Naive UTC, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return argon2id.str(password.encode("utf-8")).decode("ascii")


def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, login_name: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=login_name, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """An inline SVG QR code, rendered on the server (no script, no external image)."""
    import segno  # only for enrolment pages: kept out of every worker's memory

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True, title="TOTP")
    return out.getvalue().decode("utf-8")


def check_login(account: Account | None, password: str, code: str, *, now: datetime | None = None) -> None:
    """Check password and TOTP; update the account's counters. Raise LoginRefused.

    The caller commits the account afterwards, whether the log-in succeeded or not.
    """
    now = now or utcnow()
    if account is None or account.password_hash is None or account.totp_secret is None:
        # Spend the same effort as a real check, so timing does not reveal accounts.
        argon2id.str(b"timing-equaliser", opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN)
        raise LoginRefused("unknown account")
    _refuse_if_locked(account, now)
    step = _valid_step(account.totp_secret, code, now)
    password_ok = _password_matches(account.password_hash, password)
    if not password_ok or step is None or (account.totp_last_step is not None and step <= account.totp_last_step):
        _fail(account, now)
    _succeed(account, step)


def needs_enrolment(account: Account) -> bool:
    """A recipient whose TOTP nobody has confirmed yet (first desk log-in)."""
    return account.totp_last_step is None


def check_enrolment_password(account: Account, password: str, *, now: datetime | None = None) -> None:
    """The password alone, for an account that has no TOTP yet; throttled and locked
    like a full log-in. The caller commits the account afterwards either way."""
    now = now or utcnow()
    if account.password_hash is None or not needs_enrolment(account):
        raise LoginRefused("not enrolling")
    _refuse_if_locked(account, now)
    if not _password_matches(account.password_hash, password):
        _fail(account, now)
    account.failed_logins = 0


def begin_enrolment(account: Account) -> str:
    """A fresh secret for the authenticator app (any secret made earlier is discarded)."""
    secret = new_totp_secret()
    account.totp_secret = secret
    return secret


def confirm_enrolment(account: Account, code: str, *, now: datetime | None = None) -> None:
    """Accept the first code of the new secret: the account is enrolled from now on."""
    now = now or utcnow()
    if account.totp_secret is None or not needs_enrolment(account):
        raise LoginRefused("not enrolling")
    _refuse_if_locked(account, now)
    step = _valid_step(account.totp_secret, code, now)
    if step is None:
        _fail(account, now)
    _succeed(account, step)


def _refuse_if_locked(account: Account, now: datetime) -> None:
    if account.locked_until is not None and account.locked_until > now:
        raise LoginRefused("locked")


def _fail(account: Account, now: datetime) -> NoReturn:
    account.failed_logins = (account.failed_logins or 0) + 1
    if account.failed_logins >= MAX_FAILURES:
        account.locked_until = now + timedelta(minutes=LOCK_MINUTES)
        account.failed_logins = 0
    raise LoginRefused("wrong password or code")


def _succeed(account: Account, step: int | None) -> None:
    account.totp_last_step = step
    account.failed_logins = 0
    account.locked_until = None


def _password_matches(stored: str, password: str) -> bool:
    try:
        return bool(argon2id.verify(stored.encode("ascii"), password.encode("utf-8")))
    except InvalidkeyError:
        return False


def _valid_step(secret: str, code: str, now: datetime) -> int | None:
    """The time step of a valid code (current step ±1), or None."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    moment = now.replace(tzinfo=UTC)
    for offset in (0, -1, 1):
        at = moment + timedelta(seconds=offset * _STEP)
        if pyotp.utils.strings_equal(totp.at(at), code):
            return int(totp.timecode(at))
    return None


def login_name_taken(db: Session, login_name: str) -> bool:
    """Recipients and operators share one namespace of desk log-in names."""
    return any(
        db.scalar(select(model.id).where(model.login_name == login_name)) is not None
        for model in (Recipient, Operator)
    )


def add_recipient(
    db: Session,
    *,
    body_id: str,
    name: str,
    public_key: bytes,
    token: str | None = None,
    login_name: str | None = None,
    password: str | None = None,
    role: str = "recipient",
    actor: str = "cli",
) -> str:
    """Register a recipient; return the API token (shown once, stored only hashed).

    With a log-in name and password the recipient can also use the web desk; their
    TOTP is enrolled at the first desk log-in (the QR code is shown then).
    """
    token = token or secrets.token_urlsafe(32)
    recipient = Recipient(
        body_id=body_id,
        name=name,
        public_key=public_key,
        token_hash=token_hash(token),
        active=True,
        created_on=today(),
        role=role,
        failed_logins=0,
    )
    if login_name is not None:
        if password is None:
            raise ValueError("A desk log-in needs a password.")
        recipient.login_name = login_name
        recipient.password_hash = hash_password(password)
        recipient.totp_secret = new_totp_secret()
    db.add(recipient)
    db.flush()
    audit.record(db, "recipient.add", actor=actor, body_id=body_id, detail={"recipient": recipient.id, "role": role})
    db.commit()
    return token
