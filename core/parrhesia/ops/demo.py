"""The demo instance: the Republic of Example, with a publicly known demo recipient at
every body a report can reach.

The jurisdiction comes from the reference plugins (``demo``, ``eu-directive``,
``anticorruption``). Each demo recipient's private key, and each body's key, is
derived from a published seed, so that the Anti-Corruption Agency's public key can be
shipped in ``keys/demo/`` and checked by a test; so is the key that signs the demo's
receipts (``keys/demo/instance-signing.pub``). Everyone can derive them: the demo
exists to try Parrhesia on a laptop and must never receive a real report.

``parrhesia demo`` plays each body's first member: it creates the body key on "their
machine" (this one) and grants it to them, as ``parrhesia desk body-key create``
does on a real instance. Its files go to ``DIR/demo/<body id>/``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from nacl.encoding import RawEncoder
from nacl.hash import blake2b
from nacl.public import PrivateKey
from nacl.signing import SigningKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.crypto import grant_body_key, wrap_private_key
from parrhesia.crypto.receipt import signing_key_from_seed
from parrhesia.domain import custody
from parrhesia.domain.accounts import add_recipient
from parrhesia.domain.host import PluginHost, load_host
from parrhesia.domain.reports import token_hash
from parrhesia.domain.routing import URGENCY_IMMINENT, URGENCY_NORMAL, RoutingRequest
from parrhesia.instance import RECEIPT_KEY_FILE, Instance, init_instance
from parrhesia.private_files import write_private_file
from parrhesia.storage.models import Recipient

__all__ = [
    "DEMO_PLUGINS",
    "DEMO_SETTINGS",
    "DEMO_PLUGIN_SETTINGS",
    "DEMO_RECIPIENT_BODY",
    "DEMO_LOGIN",
    "DemoFiles",
    "demo_recipient_key",
    "demo_receipt_signing_key",
    "demo_login",
    "reachable_bodies",
    "ensure_demo_instance",
]

DEMO_PLUGINS = ["demo", "eu-directive", "anticorruption"]
# The Ombudsman receives what no plugin routes; when it is in conflict itself (the
# National Assembly appoints it), the accredited NGO does.
DEMO_SETTINGS: dict[str, object] = {"route": [], "last_resort": ["example-ombudsman", "example-ngo"]}
# Nothing to set: the eu-directive plugin applies its deadlines to the member states it
# declares, the Republic of Example among them, and to no other jurisdiction.
DEMO_PLUGIN_SETTINGS: dict[str, dict[str, object]] = {}
DEMO_RECIPIENT_BODY = "example-aca"
DEMO_LOGIN = "demo"
_DEMO_SEED = b"parrhesia demo recipient key - publicly known - never use for real reports"
_BODY_SEED = b"parrhesia demo body key - publicly known - never use for real reports"
_RECEIPT_SEED = b"parrhesia demo receipt signing key - publicly known - never trust a demo receipt"


def demo_recipient_key(body_id: str = DEMO_RECIPIENT_BODY) -> PrivateKey:
    """A demo recipient's (publicly derivable) private key."""
    seed = _DEMO_SEED if body_id == DEMO_RECIPIENT_BODY else _DEMO_SEED + b":" + body_id.encode()
    return PrivateKey(blake2b(seed, digest_size=32, encoder=RawEncoder))


def _demo_receipt_seed() -> bytes:
    return blake2b(_RECEIPT_SEED, digest_size=32, encoder=RawEncoder)


def demo_receipt_signing_key() -> SigningKey:
    """The demo's (publicly derivable) receipt signing key: its public half is in
    keys/demo/, and anyone can forge a demo receipt."""
    return signing_key_from_seed(_demo_receipt_seed())


def _demo_body_key(body_id: str) -> PrivateKey:
    return PrivateKey(blake2b(_BODY_SEED + b":" + body_id.encode(), digest_size=32, encoder=RawEncoder))


def demo_login(body_id: str) -> str:
    """``demo`` at the Anti-Corruption Agency, ``demo-<body>`` elsewhere."""
    return DEMO_LOGIN if body_id == DEMO_RECIPIENT_BODY else f"demo-{body_id.removeprefix('example-')}"


@dataclass(frozen=True)
class DemoFiles:
    body_id: str
    login: str
    key: Path
    passphrase: Path
    token: Path
    desk_password: Path


def reachable_bodies(host: PluginHost) -> list[str]:
    """Every body a report can reach in the demo: on a route or an escalation chain, on
    duty for imminent danger, or competent for a protection measure, whichever body is
    implicated and whatever the subject."""
    subjects = [None, *sorted({c.value for f in host.routing_fields if f.name == "subject" for c in f.choices})]
    implicated = [None, *sorted(host.directory.bodies)]
    reached: set[str] = {m.body_id for m in host.measures if m.body_id}
    for body in implicated:
        for subject in subjects:
            for urgency in (URGENCY_NORMAL, URGENCY_IMMINENT):
                decision = host.decide(RoutingRequest(implicated=body, subject=subject, urgency=urgency))
                reached.update(decision.route)
                reached.update(s.body_id for s in decision.escalation)
    return sorted(reached)


def ensure_demo_instance(path: Path) -> tuple[Instance, dict[str, DemoFiles]]:
    """Create (if missing) a demo instance with a recipient, key file, token and desk
    log-in at every reachable body, each holding its body's key. Returns the instance
    and the files by body id."""
    root = Path(path).resolve()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    secrets_dir = root / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    if not (secrets_dir / RECEIPT_KEY_FILE).exists():  # before init_instance makes a random one
        write_private_file(secrets_dir / RECEIPT_KEY_FILE, _demo_receipt_seed())
    instance = init_instance(
        path, name="Parrhesia demo (Republic of Example)", bodies=[], plugins=DEMO_PLUGINS, settings=DEMO_SETTINGS,
        plugin_settings=DEMO_PLUGIN_SETTINGS,
    )
    host = load_host(instance.config)
    demo_dir = instance.config.path / "demo"
    demo_dir.mkdir(mode=0o700, exist_ok=True)
    found = {}
    with Session(instance.engine) as db:
        for body_id in reachable_bodies(host):
            found[body_id] = _ensure_recipient(db, demo_dir, body_id, host)
    return instance, found


def _ensure_recipient(db: Session, demo_dir: Path, body_id: str, host: PluginHost) -> DemoFiles:
    folder = demo_dir / body_id
    folder.mkdir(mode=0o700, exist_ok=True)
    login = demo_login(body_id)
    files = DemoFiles(body_id, login, folder / "recipient.key", folder / "passphrase", folder / "token",
                      folder / "desk-password")
    key = demo_recipient_key(body_id)
    for secret_file in (files.passphrase, files.desk_password):
        if not secret_file.exists():
            write_private_file(secret_file, (secrets.token_urlsafe(18) + "\n").encode())
    if not files.key.exists():
        write_private_file(files.key, wrap_private_key(key, _first_line(files.passphrase).encode()))
    recipient = db.scalar(select(Recipient).where(Recipient.public_key == bytes(key.public_key)))
    if recipient is None:
        body = host.directory.bodies[body_id]
        token = add_recipient(
            db, body_id=body_id, name=f"Demo case officer ({body.name})", public_key=bytes(key.public_key),
            login_name=login, password=_first_line(files.desk_password), on=host.config.today(),
        )
        _replace(files.token, token)
        recipient = db.scalar(select(Recipient).where(Recipient.public_key == bytes(key.public_key)))
    elif not files.token.exists():
        token = secrets.token_urlsafe(32)
        recipient.token_hash = token_hash(token)
        db.commit()
        _replace(files.token, token)
    if recipient is None:  # pragma: no cover - add_recipient committed it just above
        raise RuntimeError(f"the demo recipient of {body_id} was not stored")
    if custody.current_key(db, body_id) is None:
        # This machine plays the body's first member: the body key is made here and
        # granted to them, as `parrhesia desk body-key create` does.
        body_sk = _demo_body_key(body_id)
        custody.found_body_key(db, recipient, bytes(body_sk.public_key),
                               grant_body_key(body_sk, bytes(key.public_key), key), on=host.config.today())
    return files


def _first_line(path: Path) -> str:
    return path.read_text(encoding="utf-8").splitlines()[0]


def _replace(path: Path, token: str) -> None:
    path.unlink(missing_ok=True)
    write_private_file(path, (token + "\n").encode())
