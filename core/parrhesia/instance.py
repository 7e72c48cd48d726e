"""An instance: its configuration, secrets, database engine and blob store together.

``init_instance`` creates an instance folder (idempotently); ``open_instance`` loads an
existing one for the web app or the command line. The app keeps the opened instance in
``app.extensions`` so that several apps can live in one process.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import nacl.hash
import tomli_w
from flask import current_app
from nacl.encoding import HexEncoder
from nacl.signing import SigningKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from parrhesia.config import CONFIG_FILE, ConfigError, InstanceConfig, ensure_secret, load_config, read_secret
from parrhesia.crypto import CODENAME_KDF_LATEST, CODENAME_KDF_V1, CODENAME_KDFS, CodenameKdf
from parrhesia.crypto.receipt import signing_key_from_seed
from parrhesia.private_files import write_private_file
from parrhesia.storage.blobs import BlobStore
from parrhesia.storage.db import make_engine
from parrhesia.storage.migrate import check_schema, upgrade
from parrhesia.storage.models import InstanceFact

__all__ = [
    "Instance",
    "RECEIPT_KEY_FILE",
    "init_instance",
    "open_instance",
    "assemble",
    "current_instance",
    "read_receipt_signing_key",
    "receipt_signing_key",
]

SIGNING_KEY_FILE = "secret_key"
PEPPER_FILE = "pepper"
# Which codename derivation (docs/format.md, section 4) the instance's sources use.
# Written with the pepper, never changed: an instance whose pepper predates this file
# uses version 1. The database records it too (InstanceFact), with a check value of
# the pepper, and start-up refuses secrets that disagree with it.
CODENAME_KDF_FILE = "codename_kdf"
# The seed of the Ed25519 key that signs sources' receipts (docs/format.md §9); its
# public half is published in keys/ and on the landing page. Made by `parrhesia init`,
# or on first need for an instance created before receipts existed.
RECEIPT_KEY_FILE = "receipt_signing_key"
_PERSON_PEPPER_CHECK = b"prh-pepper-check"  # 16 bytes, libsodium's BLAKE2b personalisation size

DEFAULT_BODIES = [
    {"id": "integrity-office", "name": "Integrity Office", "kind": "anti-corruption agency"},
]


@dataclass
class Instance:
    config: InstanceConfig
    engine: Engine
    blobs: BlobStore
    pepper: bytes
    secret_key: bytes
    codename_kdf: CodenameKdf

    def dispose(self) -> None:
        self.engine.dispose()


def init_instance(
    path: str | os.PathLike[str],
    *,
    name: str = "Parrhesia",
    bodies: list[dict[str, str]] | None = None,
    database_url: str | None = None,
    plugins: list[str] | None = None,
    settings: dict[str, object] | None = None,
    plugin_settings: dict[str, dict[str, object]] | None = None,
    relations: list[dict[str, str]] | None = None,
) -> Instance:
    """Create or upgrade an instance folder: config, secrets, blob store, schema.

    ``settings`` adds keys to the ``[instance]`` table of a new configuration (e.g.
    ``route``, ``last_resort``); ``plugins`` is the allowlist of enabled plugins and
    ``plugin_settings`` their ``[plugins.<name>]`` tables; ``relations`` are
    ``[[relations]]`` between configured bodies.
    An existing configuration is never rewritten.
    """
    root = Path(path).resolve()
    # The folder holds the database, secrets and perhaps a database password.
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    config_file = root / CONFIG_FILE
    if not config_file.exists():
        document: dict[str, object] = {
            "instance": {
                "name": name,
                "max_submission_bytes": 500 * 1000 * 1000,
                "session_minutes": 60,
                "languages": ["en", "fr", "es"],
                **({"database_url": database_url} if database_url else {}),
                **(settings or {}),
            },
            "bodies": bodies if bodies is not None else DEFAULT_BODIES,
            "relations": relations or [],
            "plugins": {"enabled": plugins or [], **(plugin_settings or {})},
        }
        config_file.write_text(tomli_w.dumps(document), encoding="utf-8")
    new_pepper = not (root / "secrets" / PEPPER_FILE).exists()
    for secret in (SIGNING_KEY_FILE, PEPPER_FILE, RECEIPT_KEY_FILE):
        ensure_secret(root / "secrets", secret)
    if new_pepper:
        _write_codename_kdf(root / "secrets", CODENAME_KDF_LATEST)
    config = load_config(root)
    engine = make_engine(config.database_url)
    upgrade(engine)
    return assemble(config, engine, record_facts=True)


def open_instance(path: str | os.PathLike[str]) -> Instance:
    """Open an initialised instance; raise ConfigError or SchemaError otherwise."""
    config = load_config(path)
    engine = make_engine(config.database_url)
    try:
        check_schema(engine)
    except Exception:
        engine.dispose()
        raise
    return assemble(config, engine)


def assemble(config: InstanceConfig, engine: Engine, *, record_facts: bool = False) -> Instance:
    """The instance over an engine whose schema is current: its blob store and secrets,
    checked against the facts the database recorded (ConfigError if they disagree) —
    the start-up check, shared with ``parrhesia doctor``."""
    try:
        instance = Instance(
            config=config,
            engine=engine,
            blobs=BlobStore(config.blob_dir),
            pepper=read_secret(config, PEPPER_FILE),
            secret_key=read_secret(config, SIGNING_KEY_FILE),
            codename_kdf=_read_codename_kdf(config),
        )
        _reconcile_facts(instance, record_missing=record_facts)
    except Exception:
        engine.dispose()
        raise
    return instance


def _facts(instance: Instance) -> dict[str, str]:
    """What the database must agree on with the secrets folder (see InstanceFact)."""
    check = nacl.hash.blake2b(b"", digest_size=16, key=instance.pepper, person=_PERSON_PEPPER_CHECK, encoder=HexEncoder)
    return {"pepper_check": check.decode("ascii"), "codename_kdf": str(instance.codename_kdf.version)}


def _reconcile_facts(instance: Instance, *, record_missing: bool) -> None:
    """Refuse secrets that disagree with the facts the database holds.

    With ``record_missing`` (``parrhesia init``: a new or an upgraded instance), the
    facts the database does not hold yet are recorded.
    """
    secrets_dir = instance.config.secrets_dir
    with Session(instance.engine) as db:
        recorded = {fact.name: fact.value for fact in db.scalars(select(InstanceFact))}
        facts = _facts(instance)
        for name, value in facts.items():
            if name in recorded and recorded[name] != value:
                culprit = secrets_dir / (PEPPER_FILE if name == "pepper_check" else CODENAME_KDF_FILE)
                raise ConfigError(
                    f"{culprit} is not the one this instance's database was created with: restore it "
                    "from the backup taken with the database. With another one no source could log in."
                )
        missing = [InstanceFact(name=n, value=v) for n, v in facts.items() if n not in recorded]
        if record_missing and missing:
            db.add_all(missing)
            db.commit()


def _write_codename_kdf(secrets_dir: Path, kdf: CodenameKdf) -> None:
    """Record the derivation of a new pepper; a file already there is never replaced."""
    path = secrets_dir / CODENAME_KDF_FILE
    try:
        write_private_file(path, f"{kdf.version}\n".encode("ascii"))
    except FileExistsError:
        return


def _read_codename_kdf(config: InstanceConfig) -> CodenameKdf:
    path = config.secrets_dir / CODENAME_KDF_FILE
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return CODENAME_KDF_V1  # the instance was created before version 2 existed
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} cannot be read: {exc}") from None
    kdf = CODENAME_KDFS.get(int(text)) if text.isdigit() else None
    if kdf is None:
        raise ConfigError(
            f"{path} names no known codename derivation ({text!r}); it must be restored as it was "
            "written when the instance was created, or no source can log in"
        )
    return kdf


def read_receipt_signing_key(config: InstanceConfig) -> SigningKey | None:
    """The instance's receipt signing key, or None if it has none yet; ConfigError if
    its file is damaged."""
    path = config.secrets_dir / RECEIPT_KEY_FILE
    try:
        seed = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read: {exc.strerror}") from None
    try:
        return signing_key_from_seed(seed)
    except ValueError:
        raise ConfigError(f"{path} is damaged (it must hold exactly 32 bytes): restore it from the "
                          "instance's backup; receipts it signed no longer verify with another key") from None


def receipt_signing_key(config: InstanceConfig) -> SigningKey:
    """The instance's receipt signing key, made now if it has none (an instance
    created before receipts existed). Several processes may ask at once: the file is
    written aside and linked into place, so exactly one seed wins and none is read
    half-written."""
    key = read_receipt_signing_key(config)
    if key is not None:
        return key
    config.secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = config.secrets_dir / RECEIPT_KEY_FILE
    aside = path.with_name(f".{RECEIPT_KEY_FILE}.{secrets.token_hex(8)}")
    write_private_file(aside, secrets.token_bytes(32))
    try:
        os.link(aside, path)
    except FileExistsError:
        pass  # another process made it first: theirs is the key
    finally:
        aside.unlink()
    key = read_receipt_signing_key(config)
    if key is None:
        raise ConfigError(f"{path} vanished as it was made: is something else managing {config.secrets_dir}?")
    return key


def current_instance() -> Instance:
    """The instance of the current Flask application."""
    instance: Instance = current_app.extensions["parrhesia.instance"]
    return instance
