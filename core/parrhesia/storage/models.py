"""Database tables (SQLAlchemy 2.0 declarative mapping).

What is stored here is deliberately poor: identifiers, public keys, sealed keys, the
route, and dates at day precision. Every message, attachment, filename and reply lives
only as ciphertext in the blob store; no IP address, user agent, exact time of source
activity, or codename is ever a column.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Base",
    "Recipient",
    "Report",
    "ReportBody",
    "ReportField",
    "ReportClock",
    "ReportEscalation",
    "ProtectionRequest",
    "SealedKey",
    "BodyKey",
    "BodyKeyGrant",
    "Part",
    "SourceSession",
    "PluginError",
    "Operator",
    "DeskSession",
    "AuditEntry",
    "ReportRead",
    "QueuedNotification",
]


class Base(DeclarativeBase):
    pass


class Recipient(Base):
    """A person at a body who holds a key; the server knows only the public half."""

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    # SHA-256 of the API token: a stolen database does not yield usable tokens.
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_on: Mapped[date] = mapped_column(Date)
    # Desk log-in (optional: a recipient may use only the API and the command line).
    login_name: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    role: Mapped[str] = mapped_column(String(16), default="recipient")  # or "body_admin"
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    # The passphrase-wrapped key file, kept for the recipient's convenience only: the
    # server never holds the passphrase.
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # Where notifications go (an e-mail address); never anything about a report.
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)


class Operator(Base):
    """Runs the instance and its plugins; can read no report."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login_name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret: Mapped[str] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_on: Mapped[date] = mapped_column(Date)


class DeskSession(Base):
    """A server-side desk session; the cookie holds only a random token."""

    __tablename__ = "desk_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(40))  # "recipient:<id>" or "operator:<id>"
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEntry(Base):
    """One hash-chained audit record (see parrhesia.domain.audit); no content, no address."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(40))
    # No foreign keys: the record of a report outlives the report.
    report_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    body_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class ReportRead(Base):
    """How far a recipient has read a report (the unread marker)."""

    __tablename__ = "report_reads"

    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    seen_seq: Mapped[int] = mapped_column(Integer, default=0)


class Report(Base):
    """One case, opened by a first submission."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Derived from the codename with Argon2id and the instance pepper; not the codename.
    lookup_id: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    status: Mapped[str] = mapped_column(String(32), default="received")
    created_on: Mapped[date] = mapped_column(Date)
    updated_on: Mapped[date] = mapped_column(Date)
    # True when a plugin failed during routing and the fallback route was used.
    fallback_route: Mapped[bool] = mapped_column(Boolean, default=False)
    # A legal hold blocks destruction at the end of the retention period.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    # How the report was taken when not online: "in-person" or "telephone", by a
    # recipient of ``intake_body`` on the person's behalf (never which recipient).
    intake: Mapped[str | None] = mapped_column(String(16), nullable=True)
    intake_body: Mapped[str | None] = mapped_column(String(64), nullable=True)

    bodies: Mapped[list[ReportBody]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by=lambda: [ReportBody.role, ReportBody.rank, ReportBody.body_id]
    )
    fields: Mapped[list[ReportField]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by=lambda: [ReportField.name, ReportField.value]
    )
    clocks: Mapped[list[ReportClock]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by=lambda: [ReportClock.due_on, ReportClock.clock_id]
    )
    protection_requests: Mapped[list[ProtectionRequest]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by=lambda: [ProtectionRequest.created_on, ProtectionRequest.id]
    )
    escalations: Mapped[list[ReportEscalation]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by=lambda: [ReportEscalation.id]
    )
    sealed_keys: Mapped[list[SealedKey]] = relationship(
        back_populates="report", cascade="all, delete-orphan"
    )
    parts: Mapped[list[Part]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="Part.seq"
    )


class ReportBody(Base):
    """A body's place in a report's routing.

    ``role`` is "route" (can read it), "escalation" (may receive it on escalation, in
    ``rank`` order) or "excluded" (never receives it, for ``reason``).
    """

    __tablename__ = "report_bodies"

    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    body_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True, default="route")
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)

    report: Mapped[Report] = relationship(back_populates="bodies")


class ReportField(Base):
    """A routing field the source chose (visible to the server by design)."""

    __tablename__ = "report_fields"

    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(200), primary_key=True)

    report: Mapped[Report] = relationship(back_populates="fields")


class ProtectionRequest(Base):
    """A source's request for a protection measure.

    The details are a part sealed to the competent body's recipients and to the report
    key (so the source sees what they asked). An identity the source chose to give is
    a separate part sealed to the competent body's recipients only, and the server
    withholds it until the source consents or a custodian's recorded decision takes
    effect after its reasons were shown to the source (Directive 2019/1937 Art 16).
    """

    __tablename__ = "protection_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    measure_id: Mapped[str] = mapped_column(String(64))
    body_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    created_on: Mapped[date] = mapped_column(Date)
    updated_on: Mapped[date] = mapped_column(Date)
    details_part_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    identity_part_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # none, withheld, consented, disclosure-pending, disclosed
    identity_state: Mapped[str] = mapped_column(String(24), default="none")
    disclosure_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    disclosure_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    disclosure_effective_on: Mapped[date | None] = mapped_column(Date, nullable=True)

    report: Mapped[Report] = relationship(back_populates="protection_requests")


class ReportEscalation(Base):
    """One escalation: which body gained access, on which trigger, and when (day)."""

    __tablename__ = "report_escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    body_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # None: nobody left
    trigger: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    on: Mapped[date] = mapped_column(Date)

    report: Mapped[Report] = relationship(back_populates="escalations")


class ReportClock(Base):
    """A legal deadline attached to a report, with its due day and legal source."""

    __tablename__ = "report_clocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    clock_id: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    legal_source: Mapped[str] = mapped_column(String(200))
    body_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    due_on: Mapped[date] = mapped_column(Date)
    extendable_to_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="running")  # running, met, missed, paused
    met_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # "acknowledge" or "feedback"
    warned_on: Mapped[date | None] = mapped_column(Date, nullable=True)  # "about to expire" queued
    extension_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    pausable: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    pause_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    report: Mapped[Report] = relationship(back_populates="clocks")


class BodyKey(Base):
    """One generation of a body's keypair: the server knows only the public half.

    Made on a member's machine (``parrhesia desk body-key``); the first generation is
    founded by the body's first member, each later one by a member who rotates it
    (``previous_sealed``: the previous generation's private key sealed to this one, so
    the newest key opens every older report). See docs/format.md §1.
    """

    __tablename__ = "body_keys"
    __table_args__ = (UniqueConstraint("body_id", "generation"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body_id: Mapped[str] = mapped_column(String(64), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    previous_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True)
    created_on: Mapped[date] = mapped_column(Date)

    grants: Mapped[list[BodyKeyGrant]] = relationship(
        back_populates="body_key", cascade="all, delete-orphan", order_by="BodyKeyGrant.id",
        foreign_keys="BodyKeyGrant.body_key_id",
    )


class BodyKeyGrant(Base):
    """A body key's private half boxed to one member by the member who vouched for them.

    Only a holder of the body key can make one; the server records who claims to have
    vouched and the member's own machine checks it (the box is authenticated).
    """

    __tablename__ = "body_key_grants"
    __table_args__ = (UniqueConstraint("body_key_id", "recipient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body_key_id: Mapped[int] = mapped_column(ForeignKey("body_keys.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), index=True)
    vouched_by: Mapped[int | None] = mapped_column(ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True)
    boxed: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[date] = mapped_column(Date)

    body_key: Mapped[BodyKey] = relationship(back_populates="grants", foreign_keys=[body_key_id])


class SealedKey(Base):
    """A private key sealed to one holder: a body key, the source, or (format v1) a recipient."""

    __tablename__ = "sealed_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    # "source", "body" or (format v1) "recipient": the report key itself. For a part with a key of its own
    # (part_id set): "note", "protection" or "identity" (sealed to a recipient), or
    # "report" (sealed to the report key, so whoever holds the report can open it).
    holder: Mapped[str] = mapped_column(String(16))
    # For a note: the part whose own key this is (notes are sealed to a body's
    # recipients only, never to the report key the source holds).
    part_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), nullable=True, index=True
    )
    # The body key generation this is sealed to (holder "body", and notes, protection
    # details and identities of custody v2).
    body_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("body_keys.id", ondelete="CASCADE"), nullable=True, index=True
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[Report] = relationship(back_populates="sealed_keys")
    body_key: Mapped[BodyKey | None] = relationship()


class Part(Base):
    """A message, attachment or reply: metadata here, ciphertext in the blob store."""

    __tablename__ = "parts"

    # Insertion order orders a conversation; dates alone are only day-precise.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "message", "attachment", "answers", "reply" or "note"
    author: Mapped[str] = mapped_column(String(16))  # "source" or "recipient"
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True
    )
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    body_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # a note's body
    created_on: Mapped[date] = mapped_column(Date)

    report: Mapped[Report] = relationship(back_populates="parts")


class SourceSession(Base):
    """A logged-in source: useless without the token held only in the source's cookie.

    The row holds the report key wrapped with a key derived from that token, so that
    neither the database alone nor the cookie alone opens anything.
    """

    __tablename__ = "source_sessions"

    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_on: Mapped[date] = mapped_column(Date)


class PluginError(Base):
    """A plugin that failed at run time: which one, in which hook, the error type.

    Never a message or traceback (they could carry content); operators list these
    with ``parrhesia plugins errors``.
    """

    __tablename__ = "plugin_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_on: Mapped[date] = mapped_column(Date)
    plugin: Mapped[str] = mapped_column(String(100))
    hook: Mapped[str] = mapped_column(String(100))
    error: Mapped[str] = mapped_column(String(200))
    report_id: Mapped[str | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"), nullable=True)


class QueuedNotification(Base):
    """Something a recipient should look at, waiting for the next batch.

    Only a kind ("new-report", "clock-due") and the day: never a report's subject,
    content or anything a source wrote; not even which report, so that a mailbox
    learns nothing but that there is work.
    """

    __tablename__ = "notification_queue"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("recipients.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    created_on: Mapped[date] = mapped_column(Date)


class DemographicCount(Base):
    """How many sources gave one answer to one optional "who reports" question in a year.

    Kept apart from reports on purpose (DOMAIN.md, victim-centred intake): no report id,
    no day, and not even a row per person, only a counter per (year, question, answer).
    A row per answer would keep its insertion order (a rowid, a sequence), which could be
    matched to the order in which reports arrived; a counter keeps nothing but the sum.
    """

    __tablename__ = "demographic_counts"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    question: Mapped[str] = mapped_column(String(32), primary_key=True)
    answer: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


__all__ += ["DemographicCount"]


class InstanceFact(Base):
    """What the database must agree on with the instance folder's secrets.

    ``pepper_check`` (a keyed BLAKE2b of nothing under the pepper: it reveals nothing
    of the pepper) and ``codename_kdf`` (the codename derivation's version) are written
    by ``parrhesia init`` and compared at every start-up, so that a pepper or a
    ``codename_kdf`` file lost, replaced or restored from another instance stops the
    instance with a clear error instead of silently locking every source out.
    """

    __tablename__ = "instance_facts"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


__all__ += ["InstanceFact"]


class RouteAnswer(Base):
    """A routing plugin's last successful answer for one set of routing fields (see
    parrhesia.domain.route_memory): used only while that plugin fails."""

    __tablename__ = "route_answers"

    plugin: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_ids: Mapped[str] = mapped_column(Text)


__all__ += ["RouteAnswer"]


class SpentFormToken(Base):
    """The digest of a submission form's token that was used (see parrhesia.domain.form_tokens),
    with its day only."""

    __tablename__ = "spent_form_tokens"

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    spent_on: Mapped[date] = mapped_column(Date, index=True)


__all__ += ["SpentFormToken"]
