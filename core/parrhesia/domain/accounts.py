"""Desk accounts: Argon2id passwords, mandatory TOTP without reuse, throttled log-ins.

Recipients and operators log in the same way; :class:`Account` is the common shape of
both tables. A TOTP code is accepted once: the time step it belongs to is recorded and
any code of that step or an earlier one is refused afterwards.

Every log-in attempt costs the same: one Argon2id verification with the parameters of
:func:`hash_password` (against a dummy hash made once per process when the account is
unknown) and one TOTP check, whatever the account and whatever its state, and only then
the answer. Neither the answer nor its time says whether the account exists, which
factor was wrong, or whether the account is being throttled.

Throttling delays, it never locks out: after ``FREE_FAILURES`` failed attempts in a row
each further failure makes the next attempt wait ``2**k`` seconds (k = 0, 1, 2, …),
at most ``MAX_DELAY``, counted from that failure (``locked_until`` holds "next attempt
allowed at"). An attempt that arrives earlier is refused without being counted, so
guessing is slowed but nobody can push the delay past ``MAX_DELAY`` for the real user:
the right password and a fresh code succeed as soon as the current delay is over.
The delay is per account.
"""

from __future__ import annotations

import functools
import io
import secrets
from datetime import UTC, date, datetime, timedelta
from typing import NoReturn, Protocol

import pyotp
from nacl.exceptions import InvalidkeyError
from nacl.pwhash import argon2id
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.domain import audit
from parrhesia.domain.reports import token_hash
from parrhesia.offload import blocking
from parrhesia.storage.models import Operator, Recipient

__all__ = [
    "FREE_FAILURES",
    "MAX_DELAY",
    "Account",
    "LoginRefused",
    "hash_password",
    "new_totp_secret",
    "provisioning_uri",
    "qr_svg",
    "check_login",
    "delay_after",
    "needs_enrolment",
    "check_enrolment_password",
    "begin_enrolment",
    "confirm_enrolment",
    "utcnow",
    "add_recipient",
    "login_name_taken",
    "deactivate_recipient",
    "store_key_file",
    "forget_key_file",
    "fetch_key_file",
]

FREE_FAILURES = 5
MAX_DELAY = timedelta(minutes=5)
MIN_PASSWORD_LENGTH = 12
_STEP = 30
# The parameters of every stored hash (hash_password), and of the dummy hash verified
# for an unknown account: the same verification cost on every path.
_OPSLIMIT = argon2id.OPSLIMIT_INTERACTIVE
_MEMLIMIT = argon2id.MEMLIMIT_INTERACTIVE


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
    """A refused log-in; the message never says which factor was wrong.

    ``throttled``: refused because it came before the account's next attempt was allowed
    (for the audit log only; what the user is shown must not depend on it).
    """

    def __init__(self, reason: str, *, throttled: bool = False) -> None:
        super().__init__(reason)
        self.throttled = throttled


def utcnow() -> datetime:
    """Naive UTC, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    return argon2id.str(password.encode("utf-8"), opslimit=_OPSLIMIT, memlimit=_MEMLIMIT).decode("ascii")


@functools.cache
def _dummy_hash() -> bytes:
    """A hash of a random password with hash_password's parameters, made once per process."""
    made: bytes = blocking(argon2id.str, secrets.token_bytes(32), _OPSLIMIT, _MEMLIMIT)
    return made


@functools.cache
def _dummy_secret() -> str:
    return new_totp_secret()


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

    Both factors are always checked, and the password with the same Argon2id cost for an
    unknown, a known and a throttled account; the refusal comes after both. The caller
    commits the account afterwards, whether the log-in succeeded or not.
    :func:`log_in` runs the same steps with a commit after the claim.
    """
    now = now or utcnow()
    if account is None or account.password_hash is None or account.totp_secret is None:
        _no_such_account(password, code, now)
    throttled = _claim(account, now)
    password_ok = _password_matches(account.password_hash, password)
    _judge(account, throttled, password_ok, _valid_step(account.totp_secret, code, now))


def _no_such_account(password: str, code: str, now: datetime) -> NoReturn:
    """The work of a log-in, for nothing: an unknown account costs what a known one does."""
    _password_matches(_dummy_hash().decode("ascii"), password)
    _valid_step(_dummy_secret(), code, now)
    raise LoginRefused("unknown account")


def _claim(account: Account, now: datetime) -> bool:
    """Count an attempt as failed before checking it (True: refused for coming too early).

    Claimed first, and committed before the costly check by :func:`log_in`, so that
    attempts sent in parallel each see the others' failures and wait as long as one
    after the other would; a successful attempt gives the claim back (:func:`_judge`).
    An attempt that came too early is not counted.
    """
    if account.locked_until is not None and account.locked_until > now:
        return True
    account.failed_logins = (account.failed_logins or 0) + 1
    delay = delay_after(account.failed_logins)
    account.locked_until = now + delay if delay else None
    return False


def _judge(account: Account, throttled: bool, password_ok: bool, step: int | None) -> None:
    """Refuse, keeping the claimed failure, or let in; a code used once is never accepted again."""
    if throttled:
        raise LoginRefused("too early", throttled=True)
    if not password_ok or step is None or (account.totp_last_step is not None and step <= account.totp_last_step):
        raise LoginRefused("wrong password or code")
    _succeed(account, step)


def needs_enrolment(account: Account) -> bool:
    """A recipient whose TOTP nobody has confirmed yet (first desk log-in)."""
    return account.totp_last_step is None


def check_enrolment_password(account: Account, password: str, *, now: datetime | None = None) -> None:
    """The password alone, for an account that has no TOTP yet; checked at the same cost
    and throttled like a full log-in. The caller commits the account afterwards either way."""
    now = now or utcnow()
    if account.password_hash is None or not needs_enrolment(account):
        _password_matches(_dummy_hash().decode("ascii"), password)
        raise LoginRefused("not enrolling")
    throttled = _claim(account, now)
    _judge_password(account, throttled, _password_matches(account.password_hash, password))


def _judge_password(account: Account, throttled: bool, password_ok: bool) -> None:
    if throttled:
        raise LoginRefused("too early", throttled=True)
    if not password_ok:
        raise LoginRefused("wrong password")
    account.failed_logins = 0
    account.locked_until = None


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
    throttled = _claim(account, now)
    _judge(account, throttled, True, _valid_step(account.totp_secret, code, now))


def delay_after(failures: int) -> timedelta:
    """How long the next attempt waits after ``failures`` failed attempts in a row."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    exponent = failures - FREE_FAILURES
    if exponent >= 32:  # 2**32 s is far beyond any cap; keeps the number small
        return MAX_DELAY
    return min(timedelta(seconds=2**exponent), MAX_DELAY)


def _succeed(account: Account, step: int | None) -> None:
    account.totp_last_step = step
    account.failed_logins = 0
    account.locked_until = None


def _password_matches(stored: str, password: str) -> bool:
    try:
        # Argon2id: on a real thread under gevent, so other requests go on meanwhile
        return bool(blocking(argon2id.verify, stored.encode("ascii"), password.encode("utf-8")))
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
    on: date,
) -> str:
    """Register a recipient on day ``on``; return the API token (shown once, stored only hashed).

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
        created_on=on,
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


def deactivate_recipient(db: Session, member: Recipient, *, actor: str) -> None:
    """Revoke a recipient, from the desk (a body administrator) or the command line: their
    token and desk sessions stop working at once; a member of their body then rotates the
    body key so that nothing sealed afterwards reaches them. Audited; commits."""
    member.active = False
    audit.record(db, "body.recipient.deactivate", actor=actor, body_id=member.body_id,
                 detail={"recipient": member.id})
    db.commit()


def store_key_file(db: Session, recipient: Recipient, key_file: bytes) -> None:
    """Keep a recipient's passphrase-wrapped key file on the server for their browser
    (never the passphrase); the caller checked that it holds their registered key."""
    recipient.wrapped_key = key_file.strip() + b"\n"
    audit.record(db, "key.store", actor=f"recipient:{recipient.id}", body_id=recipient.body_id)
    db.commit()


def forget_key_file(db: Session, recipient: Recipient) -> None:
    recipient.wrapped_key = None
    audit.record(db, "key.forget", actor=f"recipient:{recipient.id}", body_id=recipient.body_id)
    db.commit()


def fetch_key_file(db: Session, recipient: Recipient) -> bytes | None:
    """The kept key file, if any; each fetch is audited."""
    if recipient.wrapped_key is None:
        return None
    audit.record(db, "key.fetch", actor=f"recipient:{recipient.id}", body_id=recipient.body_id)
    db.commit()
    return recipient.wrapped_key


def members_of(db: Session, admin: Recipient) -> list[Recipient]:
    """The recipients of a body administrator's body, by name; the look is recorded (committed)."""
    members = list(db.scalars(select(Recipient).where(Recipient.body_id == admin.body_id).order_by(Recipient.name)))
    audit.record(db, "body.recipients", actor=audit.actor_of(admin), body_id=admin.body_id)
    db.commit()
    return members


# ---------------------------------------------------------------- the audited desk log-in

def log_in(db: Session, account: Recipient | Operator | None, password: str, code: str) -> bool:
    """Check a desk log-in and record it in the audit log.

    Returns True when the account is a recipient who must first enrol their
    authenticator (the password was right; enrolment has begun), False for a log-in
    (the caller starts the session and commits). A refusal is recorded and committed
    with the account's counters, then :class:`LoginRefused` is raised.

    The attempt is claimed and committed before Argon2id runs (:func:`_claim`): attempts
    in parallel then wait their turn as attempts in a row would, and the costly check
    holds no database lock. The verdict is taken on the account as it is afterwards.
    """
    actor = audit.actor_of(account) if account is not None else "unknown"
    body_id = account.body_id if isinstance(account, Recipient) else None
    now = utcnow()
    try:
        enrolling = isinstance(account, Recipient) and needs_enrolment(account)
        if account is None or account.password_hash is None or (account.totp_secret is None and not enrolling):
            db.rollback()  # finding no account opened a transaction: no lock is held for the work
            _no_such_account(password, code, now)
        throttled = _claim(account, now)
        stored, secret = account.password_hash, account.totp_secret or ""  # read before the commit may expire them
        db.commit()
        password_ok = _password_matches(stored, password)
        step = None if enrolling else _valid_step(secret, code, now)
        db.refresh(account)  # what other attempts did meanwhile: their failures, the last code used
        if enrolling:
            _judge_password(account, throttled, password_ok)
            begin_enrolment(account)
            audit.record(db, "enrol.start", actor=actor, body_id=body_id)
            db.commit()
            return True
        _judge(account, throttled, password_ok, step)
    except LoginRefused as refused:
        # "throttled": refused for coming too early, whatever the password and code were
        # (those were checked all the same, and are not recorded).
        audit.record(db, "login.failed", actor=actor, body_id=body_id, detail={"throttled": refused.throttled})
        db.commit()
        raise
    audit.record(db, "login", actor=actor, body_id=body_id)
    return False


def enrol(db: Session, recipient: Recipient, code: str | None) -> None:
    """Confirm a recipient's authenticator with its first code, which logs them in;
    recorded in the audit log (a refusal committed, then :class:`LoginRefused`)."""
    actor = audit.actor_of(recipient)
    try:
        if not code:
            raise LoginRefused("no code")
        confirm_enrolment(recipient, code)
    except LoginRefused:
        audit.record(db, "enrol.failed", actor=actor, body_id=recipient.body_id)
        db.commit()
        raise
    audit.record(db, "enrol", actor=actor, body_id=recipient.body_id)
    audit.record(db, "login", actor=actor, body_id=recipient.body_id)


def log_out(db: Session, account: Recipient | Operator) -> None:
    """Record a desk log-out in the audit log (committed)."""
    audit.record(db, "logout", actor=audit.actor_of(account),
                 body_id=account.body_id if isinstance(account, Recipient) else None)
    db.commit()
