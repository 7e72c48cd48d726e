"""The demo instance: the Republic of Example, and a publicly known demo recipient.

The jurisdiction comes from the reference plugins (``demo``, ``eu-directive``,
``anticorruption``). The demo recipient's private key is derived from a published
seed so that its public half can be shipped in ``keys/demo/`` and checked by a test.
Everyone can derive it: it exists to try Parrhesia on a laptop and must never receive
a real report.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from nacl.encoding import RawEncoder
from nacl.hash import blake2b
from nacl.public import PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli.keys import write_private_file
from parrhesia.accounts import add_recipient
from parrhesia.crypto import wrap_private_key
from parrhesia.instance import Instance, init_instance
from parrhesia.models import Recipient
from parrhesia.reports import token_hash

__all__ = [
    "DEMO_PLUGINS",
    "DEMO_SETTINGS",
    "DEMO_RECIPIENT_BODY",
    "DEMO_LOGIN",
    "DemoFiles",
    "demo_recipient_key",
    "ensure_demo_instance",
]

DEMO_PLUGINS = ["demo", "eu-directive", "anticorruption"]
DEMO_SETTINGS: dict[str, object] = {"route": [], "last_resort": ["example-ombudsman"]}
DEMO_RECIPIENT_BODY = "example-aca"
DEMO_RECIPIENT_NAME = "Demo case officer"
DEMO_LOGIN = "demo"
_DEMO_SEED = b"parrhesia demo recipient key - publicly known - never use for real reports"


def demo_recipient_key() -> PrivateKey:
    """The demo recipient's (publicly derivable) private key."""
    return PrivateKey(blake2b(_DEMO_SEED, digest_size=32, encoder=RawEncoder))


@dataclass(frozen=True)
class DemoFiles:
    key: Path
    passphrase: Path
    token: Path
    desk_password: Path


def ensure_demo_instance(path: Path) -> tuple[Instance, DemoFiles]:
    """Create (if missing) a demo instance with its recipient, key file, token and desk log-in."""
    instance = init_instance(
        path, name="Parrhesia demo (Republic of Example)", bodies=[], plugins=DEMO_PLUGINS, settings=DEMO_SETTINGS
    )
    demo_dir = instance.config.path / "demo"
    demo_dir.mkdir(mode=0o700, exist_ok=True)
    files = DemoFiles(demo_dir / "recipient.key", demo_dir / "passphrase", demo_dir / "token", demo_dir / "desk-password")
    key = demo_recipient_key()
    for secret_file in (files.passphrase, files.desk_password):
        if not secret_file.exists():
            write_private_file(secret_file, (secrets.token_urlsafe(18) + "\n").encode())
    if not files.key.exists():
        write_private_file(files.key, wrap_private_key(key, _first_line(files.passphrase).encode()))
    with Session(instance.engine) as db:
        recipient = db.scalar(select(Recipient).where(Recipient.public_key == bytes(key.public_key)))
        if recipient is None:
            token = add_recipient(
                db,
                body_id=DEMO_RECIPIENT_BODY,
                name=DEMO_RECIPIENT_NAME,
                public_key=bytes(key.public_key),
                login_name=DEMO_LOGIN,
                password=_first_line(files.desk_password),
            )
            _replace(files.token, token)
        elif not files.token.exists():
            token = secrets.token_urlsafe(32)
            recipient.token_hash = token_hash(token)
            db.commit()
            _replace(files.token, token)
    return instance, files


def _first_line(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0]


def _replace(path: Path, token: str) -> None:
    path.unlink(missing_ok=True)
    write_private_file(path, (token + "\n").encode())
