"""Database tables (SQLAlchemy 2.0 declarative mapping).

What is stored here is deliberately poor: identifiers, public keys, sealed keys, the
route, and dates at day precision. Every message, attachment, filename and reply lives
only as ciphertext in the blob store; no IP address, user agent, exact time of source
activity, or codename is ever a column.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = ["Base", "Recipient", "Report", "ReportBody", "SealedKey", "Part", "SourceSession"]


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

    bodies: Mapped[list[ReportBody]] = relationship(
        back_populates="report", cascade="all, delete-orphan"
    )
    sealed_keys: Mapped[list[SealedKey]] = relationship(
        back_populates="report", cascade="all, delete-orphan"
    )
    parts: Mapped[list[Part]] = relationship(
        back_populates="report", cascade="all, delete-orphan", order_by="Part.seq"
    )


class ReportBody(Base):
    """A body's place in a report's routing: on the route, or another role later."""

    __tablename__ = "report_bodies"

    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True)
    body_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True, default="route")
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)

    report: Mapped[Report] = relationship(back_populates="bodies")


class SealedKey(Base):
    """The report private key sealed to one holder: a recipient, or the source."""

    __tablename__ = "sealed_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    holder: Mapped[str] = mapped_column(String(16))  # "source" or "recipient"
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), nullable=True, index=True
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary)

    report: Mapped[Report] = relationship(back_populates="sealed_keys")


class Part(Base):
    """A message, attachment or reply: metadata here, ciphertext in the blob store."""

    __tablename__ = "parts"

    # Insertion order orders a conversation; dates alone are only day-precise.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "message", "attachment" or "reply"
    author: Mapped[str] = mapped_column(String(16))  # "source" or "recipient"
    recipient_id: Mapped[int | None] = mapped_column(
        ForeignKey("recipients.id", ondelete="SET NULL"), nullable=True
    )
    blob: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
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
