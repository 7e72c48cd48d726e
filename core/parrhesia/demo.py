"""The demo instance: fictional bodies and a publicly known demo recipient key.

The demo recipient's private key is derived from a published seed so that its public
half can be shipped in ``keys/demo/`` and checked by a test. Everyone can derive it:
it exists to try Parrhesia on a laptop and must never receive a real report.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from nacl.hash import blake2b
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.crypto import wrap_private_key
from parrhesia.instance import Instance, init_instance
from parrhesia.models import Recipient
from parrhesia.reports import token_hash

__all__ = ["DEMO_BODIES", "DEMO_RECIPIENT_BODY", "DemoFiles", "demo_recipient_key", "ensure_demo_instance"]

DEMO_BODIES = [
    {"id": "example-aca", "name": "Anti-Corruption Agency of the Republic of Example", "kind": "anti-corruption agency"},
    {"id": "example-ombudsman", "name": "Ombudsman of the Republic of Example", "kind": "ombudsman"},
]
DEMO_RECIPIENT_BODY = "example-aca"
DEMO_RECIPIENT_NAME = "Demo case officer"
_DEMO_SEED = b"parrhesia demo recipient key - publicly known - never use for real reports"


def demo_recipient_key() -> PrivateKey:
    """The demo recipient's (publicly derivable) private key."""
    from nacl.encoding import RawEncoder

    return PrivateKey(blake2b(_DEMO_SEED, digest_size=32, encoder=RawEncoder))


@dataclass(frozen=True)
class DemoFiles:
    key: Path
    passphrase: Path
    token: Path


def ensure_demo_instance(path: Path) -> tuple[Instance, DemoFiles]:
    """Create (if missing) a demo instance with its recipient, key file and token."""
    instance = init_instance(path, name="Parrhesia demo (Republic of Example)", bodies=DEMO_BODIES)
    demo_dir = instance.config.path / "demo"
    demo_dir.mkdir(mode=0o700, exist_ok=True)
    files = DemoFiles(demo_dir / "recipient.key", demo_dir / "passphrase", demo_dir / "token")
    key = demo_recipient_key()
    if not files.passphrase.exists():
        _write_private(files.passphrase, (secrets.token_urlsafe(18) + "\n").encode())
    if not files.key.exists():
        passphrase = files.passphrase.read_text(encoding="utf-8").splitlines()[0].encode()
        _write_private(files.key, wrap_private_key(key, passphrase))
    with Session(instance.engine) as db:
        recipient = db.scalar(select(Recipient).where(Recipient.public_key == bytes(key.public_key)))
        if recipient is None or not files.token.exists():
            token = secrets.token_urlsafe(32)
            if recipient is None:
                recipient = Recipient(
                    body_id=DEMO_RECIPIENT_BODY,
                    name=DEMO_RECIPIENT_NAME,
                    public_key=bytes(key.public_key),
                    active=True,
                )
                from parrhesia.reports import today

                recipient.created_on = today()
                db.add(recipient)
            recipient.token_hash = token_hash(token)
            db.commit()
            files.token.unlink(missing_ok=True)
            _write_private(files.token, (token + "\n").encode())
    return instance, files


def _write_private(path: Path, data: bytes) -> None:
    from parrhesia.cli.keys import write_private_file

    write_private_file(path, data)
