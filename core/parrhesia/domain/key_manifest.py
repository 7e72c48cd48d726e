"""The instance's signed key manifest: drafted from the keys it holds now, signed on an
operator's own machine, installed into the instance folder and served at
``/keys/manifest.txt`` (the format is :mod:`parrhesia.crypto.manifest`).

The instance never holds the manifest key: it drafts (``parrhesia keys manifest draft``),
an operator signs the draft offline (``… sign``), and the signed file is installed
(``… install``), which checks its signature and that it lists exactly the keys the
instance holds. A body key rotated or a recipient added later makes it *stale*: the
source pages then say which keys it does not vouch for, and ``parrhesia doctor`` warns.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.config import InstanceConfig
from parrhesia.crypto.manifest import (
    ManifestBody,
    ManifestError,
    ManifestFacts,
    ManifestRecipient,
    VerifiedManifest,
    read_manifest,
    unsigned_manifest,
)
from parrhesia.crypto.receipt import decode_verify_key
from parrhesia.domain import custody
from parrhesia.instance import receipt_signing_key
from parrhesia.storage.models import Recipient

__all__ = ["MANIFEST_FILE", "current_facts", "draft", "differences", "install", "installed"]

MANIFEST_FILE = "key-manifest.txt"  # in the instance folder: public material, served as it is


def current_facts(db: Session, config: InstanceConfig, *, on: date) -> ManifestFacts:
    """The keys the instance holds now: each body's current key, each active recipient's
    key, the receipt signing key."""
    bodies = tuple(ManifestBody(body_id, key.generation, bytes(key.public_key))
                   for body_id, key in custody.current_keys(db).items())
    recipients = tuple(ManifestRecipient(r.id, r.body_id, bytes(r.public_key))
                       for r in db.scalars(select(Recipient).where(Recipient.active.is_(True))))
    return ManifestFacts(config.name, on, bytes(receipt_signing_key(config).verify_key), bodies, recipients)


def draft(db: Session, config: InstanceConfig, manifest_key: str, *, on: date) -> bytes:
    """The unsigned manifest of the keys held now, naming ``manifest_key`` (``prh1vk_…``)."""
    return unsigned_manifest(current_facts(db, config, on=on), decode_verify_key(manifest_key))


def differences(listed: ManifestFacts, now: ManifestFacts) -> list[str]:
    """How the keys held now differ from what a manifest lists (empty: it is current)."""
    found: list[str] = []
    if listed.instance_signing_key != now.instance_signing_key:
        found.append("the instance's receipt signing key is another")
    listed_bodies = {b.body_id: b for b in listed.bodies}
    for body in now.bodies:
        old = listed_bodies.pop(body.body_id, None)
        if old is None:
            found.append(f"body {body.body_id}'s key (generation {body.generation}) is not listed")
        elif (old.generation, old.public_key) != (body.generation, body.public_key):
            found.append(f"body {body.body_id}'s key is generation {body.generation}, the manifest lists "
                         f"generation {old.generation}")
    found.extend(f"body {body_id} has no key here any more" for body_id in sorted(listed_bodies))
    listed_recipients = {(r.recipient_id, r.body_id, r.public_key) for r in listed.recipients}
    now_recipients = {(r.recipient_id, r.body_id, r.public_key) for r in now.recipients}
    found.extend(f"recipient {rid} of {body_id} is not listed" for rid, body_id, _ in sorted(now_recipients - listed_recipients))
    found.extend(f"recipient {rid} of {body_id} is listed but no longer active here"
                 for rid, body_id, _ in sorted(listed_recipients - now_recipients))
    return found


def installed(config: InstanceConfig) -> VerifiedManifest | None:
    """The manifest installed in the instance folder, checked; None if there is none.
    ManifestError if the file there is damaged or its signature does not hold."""
    try:
        data = (config.path / MANIFEST_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return read_manifest(data)


def install(db: Session, config: InstanceConfig, data: bytes, *, on: date) -> VerifiedManifest:
    """Check a signed manifest and put it in the instance folder (replacing the one there).
    ManifestError if it is not signed by the key it names, or does not list exactly the
    keys the instance holds now."""
    manifest = read_manifest(data)
    problems = differences(manifest.facts, current_facts(db, config, on=on))
    if problems:
        raise ManifestError("it does not list the keys this instance holds now: " + "; ".join(problems)
                            + ". Draft it again and sign the new draft.")
    target = config.path / MANIFEST_FILE
    temporary = target.with_name(target.name + ".new")
    temporary.write_bytes(data)
    temporary.chmod(0o644)  # public material, like keys/
    temporary.replace(target)
    return manifest
