"""Key custody on the server: body keys, grants, and what a report key is sealed to.

The server holds only public keys and sealed or boxed private keys (docs/format.md
§1). A report key is sealed to the *body keys* of its route and escalation chain, never
to a recipient's own key, so that:

* every present and future member of a body reads the body's reports: a member holds
  a **grant** of the body key, made on the machine of a member who vouched for them;
* the operator alone cannot add a reader: registering a recipient (``parrhesia
  recipients add``) gives them no grant, and only a holder of the body key can make one;
* a body with no key yet, or none of whose members can open it, **cannot read** a
  report: routing knows it (:func:`readable_bodies`) and never leaves a report with
  nobody able to read it.

Every "seal a key to a body" goes through this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from nacl.public import PrivateKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parrhesia.crypto import BODY_KEY_GRANT_SIZE, SEALED_REPORT_KEY_SIZE, fingerprint, seal_report_key
from parrhesia.domain import audit
from parrhesia.storage.models import BodyKey, BodyKeyGrant, Recipient, Report, SealedKey

__all__ = [
    "CustodyError",
    "Voucher",
    "BodyKeyView",
    "current_keys",
    "current_key",
    "readable_bodies",
    "seal_to_bodies",
    "seal_part_key",
    "accept_sealed_report_key",
    "holding_bodies",
    "found_body_key",
    "vouch",
    "rotate_body_key",
    "keyring",
    "grant_of",
    "body_key_view",
    "awaiting_grant",
    "needs_rotation",
    "Sealed",
    "sealed_for",
    "keyring_data",
]


class CustodyError(ValueError):
    """A custody step that cannot be taken, with a message for the recipient."""


def current_keys(db: Session, body_ids: Iterable[str] | None = None) -> dict[str, BodyKey]:
    """The newest generation of each body's key, for the bodies that have one (of
    ``body_ids``, or of every body)."""
    newest_query = select(BodyKey.body_id, func.max(BodyKey.generation).label("generation"))
    if body_ids is not None:
        ids = sorted(set(body_ids))
        if not ids:
            return {}
        newest_query = newest_query.where(BodyKey.body_id.in_(ids))
    newest = newest_query.group_by(BodyKey.body_id).subquery()
    rows = db.scalars(
        select(BodyKey).join(
            newest, (BodyKey.body_id == newest.c.body_id) & (BodyKey.generation == newest.c.generation)
        )
    )
    return {key.body_id: key for key in rows}


def current_key(db: Session, body_id: str) -> BodyKey | None:
    return current_keys(db, [body_id]).get(body_id)


def readable_bodies(db: Session, body_ids: Iterable[str] | None = None) -> set[str]:
    """The bodies (of ``body_ids``, or all) where someone can open what is sealed to
    them now: a current body key granted to at least one active member."""
    keys = current_keys(db, body_ids)
    if not keys:
        return set()
    granted = db.scalars(
        select(BodyKey.body_id)
        .join(BodyKeyGrant, BodyKeyGrant.body_key_id == BodyKey.id)
        .join(Recipient, Recipient.id == BodyKeyGrant.recipient_id)
        .where(BodyKey.id.in_([k.id for k in keys.values()]), Recipient.active.is_(True),
               Recipient.body_id == BodyKey.body_id)
    )
    return set(granted)


def seal_to_bodies(db: Session, report: Report, report_key: PrivateKey, body_ids: Iterable[str]) -> list[str]:
    """Seal the report key to each body's current key (added to the session); return
    the bodies sealed to. A body without a key is skipped: it cannot read."""
    keys = current_keys(db, body_ids)
    for _body_id, key in sorted(keys.items()):
        report.sealed_keys.append(
            SealedKey(holder="body", body_key_id=key.id, sealed=seal_report_key(report_key, key.public_key))
        )
    return sorted(keys)


def seal_part_key(db: Session, report: Report, part_id: str, part_key: PrivateKey, body_id: str, *, holder: str) -> None:
    """Seal a part's own key (a note, protection details, an identity) to one body."""
    key = current_key(db, body_id)
    if key is None:
        raise CustodyError(f"body {body_id!r} has no key")
    db.add(SealedKey(report_id=report.id, holder=holder, part_id=part_id, body_key_id=key.id,
                     sealed=seal_report_key(part_key, key.public_key)))


def accept_sealed_report_key(db: Session, report: Report, body_id: str, generation: int, sealed: bytes) -> None:
    """Store the report key sealed on a member's machine to another body's current key
    (a transfer to a body outside the escalation chain)."""
    key = current_key(db, body_id)
    if key is None:
        raise CustodyError("That body has no key on this instance yet: nobody there could read the report.")
    if generation != key.generation:
        raise CustodyError("That body's key changed: fetch it again and seal the report key again.")
    if len(sealed) != SEALED_REPORT_KEY_SIZE:
        raise CustodyError(f"A sealed report key is {SEALED_REPORT_KEY_SIZE} bytes.")
    report.sealed_keys.append(SealedKey(holder="body", body_key_id=key.id, sealed=sealed))


def holding_bodies(db: Session, report: Report) -> set[str]:
    """Bodies whose key (any generation) the report key is sealed to."""
    return set(db.scalars(
        select(BodyKey.body_id)
        .join(SealedKey, SealedKey.body_key_id == BodyKey.id)
        .where(SealedKey.report_id == report.id, SealedKey.holder == "body")
    ))


def _check_grant(boxed: bytes) -> None:
    if len(boxed) != BODY_KEY_GRANT_SIZE:
        raise CustodyError(f"A body key grant is {BODY_KEY_GRANT_SIZE} bytes.")


def grant_of(db: Session, key: BodyKey, recipient_id: int) -> BodyKeyGrant | None:
    return db.scalar(select(BodyKeyGrant).where(BodyKeyGrant.body_key_id == key.id,
                                                BodyKeyGrant.recipient_id == recipient_id))


def found_body_key(db: Session, founder: Recipient, public_key: bytes, boxed: bytes, *, on: date) -> BodyKey:
    """A body's first key, made on its first member's machine, with their own grant.

    Refused once the body has a key: later members are vouched for by a holder. The
    out-of-band step that makes this first key trustworthy (the body confirming its
    fingerprint) is in keys/README.md. Commits.
    """
    _check_grant(boxed)
    if len(public_key) != 32:
        raise CustodyError("A body public key is 32 bytes.")
    if current_key(db, founder.body_id) is not None:
        raise CustodyError("Your body has a key already: ask a member who holds it to vouch for you.")
    key = BodyKey(body_id=founder.body_id, generation=1, public_key=public_key, created_by=founder.id, created_on=on)
    key.grants.append(BodyKeyGrant(recipient_id=founder.id, vouched_by=founder.id, boxed=boxed, created_on=on))
    db.add(key)
    audit.record(db, "body-key.found", actor=f"recipient:{founder.id}", body_id=founder.body_id,
                 detail={"generation": 1, "fingerprint": fingerprint(public_key)})
    db.commit()
    return key


def vouch(db: Session, voucher: Recipient, member: Recipient, generation: int, boxed: bytes, *, on: date) -> BodyKeyGrant:
    """Record a grant that a holder of the body key made for a colleague. Commits."""
    _check_grant(boxed)
    key = current_key(db, voucher.body_id)
    if key is None or grant_of(db, key, voucher.id) is None:
        raise CustodyError("You do not hold your body's current key, so you cannot vouch for anyone.")
    if generation != key.generation:
        raise CustodyError("Your body's key changed: fetch it again and vouch again.")
    if member.body_id != voucher.body_id or not member.active:
        raise CustodyError("That person is not an active recipient of your body.")
    if grant_of(db, key, member.id) is not None:
        raise CustodyError("That colleague holds the body key already.")
    grant = BodyKeyGrant(body_key_id=key.id, recipient_id=member.id, vouched_by=voucher.id, boxed=boxed, created_on=on)
    db.add(grant)
    audit.record(db, "body-key.vouch", actor=f"recipient:{voucher.id}", body_id=voucher.body_id,
                 detail={"generation": key.generation, "member": member.id})
    db.commit()
    return grant


def rotate_body_key(
    db: Session, member: Recipient, public_key: bytes, previous_sealed: bytes, grants: dict[int, bytes], *, on: date,
    replaces: int,
) -> BodyKey:
    """A new generation of the body key, made on a member's machine, granted to the
    members they keep (always themselves). Members left out — a colleague who left —
    open nothing sealed from now on. Commits."""
    old = current_key(db, member.body_id)
    if old is None or grant_of(db, old, member.id) is None:
        raise CustodyError("You do not hold your body's current key, so you cannot rotate it.")
    if replaces != old.generation:
        # Two members rotating at once: the second chain would skip the first's key.
        raise CustodyError("Your body's key changed: fetch it again and rotate again.")
    if member.id not in grants:
        raise CustodyError("A new body key must be granted to you too.")
    if len(previous_sealed) != SEALED_REPORT_KEY_SIZE:
        raise CustodyError("The previous body key must be sealed to the new one.")
    if len(public_key) != 32:
        raise CustodyError("A body public key is 32 bytes.")
    members = {r.id: r for r in db.scalars(select(Recipient).where(Recipient.id.in_(list(grants))))}
    for recipient_id, boxed in grants.items():
        _check_grant(boxed)
        colleague = members.get(recipient_id)
        if colleague is None or colleague.body_id != member.body_id or not colleague.active:
            raise CustodyError(f"Recipient {recipient_id} is not an active recipient of your body.")
    key = BodyKey(body_id=member.body_id, generation=old.generation + 1, public_key=public_key,
                  previous_sealed=previous_sealed, created_by=member.id, created_on=on)
    for recipient_id, boxed in sorted(grants.items()):
        key.grants.append(BodyKeyGrant(recipient_id=recipient_id, vouched_by=member.id, boxed=boxed, created_on=on))
    db.add(key)
    audit.record(db, "body-key.rotate", actor=f"recipient:{member.id}", body_id=member.body_id,
                 detail={"generation": key.generation, "fingerprint": fingerprint(public_key),
                         "members": sorted(grants)})
    db.commit()
    return key


def keyring(db: Session, recipient: Recipient) -> list[BodyKey]:
    """Every generation of the recipient's body key, newest first."""
    query = select(BodyKey).where(BodyKey.body_id == recipient.body_id).order_by(BodyKey.generation.desc())
    return list(db.scalars(query))


@dataclass(frozen=True)
class Voucher:
    member: str  # the member's name
    fingerprint: str  # the member's own key
    vouched_by: str | None  # who vouched for them (themselves: the body's first member)


@dataclass(frozen=True)
class BodyKeyView:
    """What a source and a recipient are shown of a body's key: its fingerprint, and
    who holds it, vouched for by whom."""

    body_id: str
    generation: int
    fingerprint: str
    members: tuple[Voucher, ...]


def body_key_view(db: Session, body_ids: Iterable[str]) -> dict[str, BodyKeyView]:
    keys = current_keys(db, body_ids)
    views: dict[str, BodyKeyView] = {}
    for body_id, key in keys.items():
        people = {r.id: r for r in db.scalars(select(Recipient).where(Recipient.body_id == body_id))}
        members = []
        for grant in key.grants:
            member = people.get(grant.recipient_id)
            if member is None or not member.active:
                continue
            voucher = people.get(grant.vouched_by) if grant.vouched_by is not None else None
            members.append(Voucher(member.name, fingerprint(member.public_key), voucher.name if voucher else None))
        views[body_id] = BodyKeyView(body_id, key.generation, fingerprint(key.public_key), tuple(members))
    return views


def awaiting_grant(db: Session, body_id: str) -> list[Recipient]:
    """Active members of a body without a grant to its current key (someone must vouch)."""
    key = current_key(db, body_id)
    granted = {g.recipient_id for g in key.grants} if key else set()
    query = select(Recipient).where(Recipient.body_id == body_id, Recipient.active.is_(True)).order_by(Recipient.id)
    return [r for r in db.scalars(query) if r.id not in granted]


def needs_rotation(db: Session, body_id: str) -> bool:
    """Whether a deactivated recipient holds the body's current key (rotate it)."""
    key = current_key(db, body_id)
    if key is None:
        return False
    inactive = set(db.scalars(select(Recipient.id).where(Recipient.body_id == body_id, Recipient.active.is_(False))))
    return any(g.recipient_id in inactive for g in key.grants)


@dataclass(frozen=True)
class Sealed:
    """A key sealed for a recipient's body (``generation`` of its body key), or, from
    format v1, to the recipient's own key (``generation`` None)."""

    sealed: bytes
    generation: int | None


def sealed_for(db: Session, recipient: Recipient, report: Report) -> dict[tuple[str, str | None], Sealed]:
    """The keys of a report a recipient's body can open, by (holder, part id): the
    report key ("body"), note keys, protection details and identities, and part keys
    sealed to the report key ("report")."""
    found: dict[tuple[str, str | None], Sealed] = {}
    rows = db.execute(
        select(SealedKey, BodyKey.generation)
        .outerjoin(BodyKey, BodyKey.id == SealedKey.body_key_id)
        .where(SealedKey.report_id == report.id,
               (BodyKey.body_id == recipient.body_id) | (SealedKey.recipient_id == recipient.id)
               | (SealedKey.holder == "report"))
    )
    for key, generation in rows:
        holder = "body" if key.holder in ("body", "recipient") else key.holder
        current = found.get((holder, key.part_id))
        if current is None or (generation or 0) > (current.generation or 0):
            found[(holder, key.part_id)] = Sealed(key.sealed, generation)
    return found


def keyring_data(db: Session, recipient: Recipient, encode: Callable[[bytes], str]) -> list[dict[str, Any]]:
    """The recipient's body keyring as the desk and the API send it (newest first): each
    generation's public key, the previous generation sealed to it, and this
    recipient's grant with who vouched (name and public key, to check the box)."""
    people = {r.id: r for r in db.scalars(select(Recipient).where(Recipient.body_id == recipient.body_id))}
    ring = []
    for key in keyring(db, recipient):
        grant = next((g for g in key.grants if g.recipient_id == recipient.id), None)
        voucher = people.get(grant.vouched_by) if grant is not None and grant.vouched_by is not None else None
        ring.append({
            "generation": key.generation,
            "public_key": encode(key.public_key),
            "fingerprint": fingerprint(key.public_key),
            "previous_sealed": encode(key.previous_sealed) if key.previous_sealed else None,
            "grant": None if grant is None or voucher is None else {
                "boxed": encode(grant.boxed),
                "vouched_by": {"id": voucher.id, "name": voucher.name, "public_key": encode(voucher.public_key)},
            },
        })
    return ring
