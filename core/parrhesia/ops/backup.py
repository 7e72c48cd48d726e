"""Backups that restore: one encrypted file holding a consistent snapshot of an instance.

A backup holds the database (SQLite through :meth:`sqlite3.Connection.backup`, never a
file copy; PostgreSQL through ``pg_dump --format=custom``), the blobs the snapshot's
``parts`` table names, the secrets folder, ``parrhesia.toml`` and the onion service keys
if ``[tor]`` names their folder. The database is snapshotted first and the blobs copied
after: a blob written since is not needed, while a blob a part names must be there,
so those are the ones copied and any that is missing is reported.

The secrets (the pepper above all) make a backup as dangerous as the server itself, so
the tar stream is encrypted as it is written to a key the operator holds off the server
(an X25519 public key, ``prh1pk_…``, as ``parrhesia keys generate`` makes). Memory does
not grow with the blob store. The byte layout is in docs/format.md, section 8
("Backups"); in short::

    "PRHB" | version (1) | chunk size (4, big endian) | SealedBox(stream key) (80)
    | secretstream header (24) | chunks

Every chunk is ``chunk size`` plaintext bytes of the tar stream encrypted with
crypto_secretstream_xchacha20poly1305 (so ``chunk size + 17`` bytes), the associated
data being the 89 bytes before the secretstream header; the last chunk, shorter or
not, carries the FINAL tag and nothing may follow it. A restore decrypts the whole file
once before writing anything, so a damaged or tampered backup writes nothing.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess  # nosec B404
import tarfile
import tempfile
import tomllib
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import nacl.bindings as sodium
import nacl.exceptions
import tomli_w
from nacl.public import PrivateKey, PublicKey, SealedBox
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from parrhesia.config import CONFIG_FILE, DATABASE_URL_ENV, load_config
from parrhesia.crypto.stream import read_exactly
from parrhesia.private_files import open_private
from parrhesia.storage.blobs import BlobStore
from parrhesia.storage.db import make_engine

__all__ = [
    "BACKUP_MAGIC",
    "BACKUP_VERSION",
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "create_backup",
    "restore_backup",
]

BACKUP_MAGIC = b"PRHB"
BACKUP_VERSION = 1
CHUNK_SIZE = 65536
_ABYTES: int = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_HEADERBYTES: int = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
_SEALED_KEY_SIZE = 32 + 48
_PREAMBLE_SIZE = len(BACKUP_MAGIC) + 1 + 4 + _SEALED_KEY_SIZE  # the associated data
_TAG_MESSAGE: int = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_TAG_FINAL: int = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL

MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/parrhesia.db"
PGDUMP_MEMBER = "database/parrhesia.pgdump"
# The [tor] settings naming an onion service's HiddenServiceDir end with this (as
# ``source_onion_dir`` and ``desk_onion_dir`` do; parrhesia.ops.doctor checks them too).
ONION_DIR_SUFFIX = "_onion_dir"
ONION_KEY_FILES = ("hs_ed25519_secret_key", "hs_ed25519_public_key", "hostname")
ONION_CLIENTS = "authorized_clients"  # the desk's client authorisation (parrhesia onion)
_MEMBER = re.compile(
    r"^(?:parrhesia\.toml|manifest\.json|database/parrhesia\.(?:db|pgdump)"
    r"|secrets/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}|blobs/[A-Za-z0-9_-]{2}/[A-Za-z0-9_-]{8,64}"
    r"|tor/[0-9]{1,3}/(?:authorized_clients/)?[A-Za-z0-9_][A-Za-z0-9_.-]{0,63})$"
)
_DAMAGED = "the backup is damaged or was tampered with (authentication failed)"


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why in one sentence."""


@dataclass
class BackupResult:
    """What a backup holds: the parts its database names, the blobs copied, the missing."""

    dialect: str
    parts: int = 0
    blobs: int = 0
    missing_blobs: list[str] = field(default_factory=list)
    onion_files: int = 0
    unreadable: list[str] = field(default_factory=list)  # onion service files this user cannot read


@dataclass
class RestoreResult:
    """Where an instance was restored, and what came with it."""

    instance_dir: Path
    database_url: str
    blobs: int
    missing_blobs: list[str]
    onion_dirs: list[str]


# --- the encrypted stream ------------------------------------------------------------


class _EncryptingWriter:
    """A write-only file that encrypts what it is given, one chunk at a time."""

    def __init__(self, out: BinaryIO, public_key: bytes) -> None:
        key = sodium.crypto_secretstream_xchacha20poly1305_keygen()
        sealed = SealedBox(PublicKey(public_key)).encrypt(key)
        self._ad = BACKUP_MAGIC + bytes([BACKUP_VERSION]) + CHUNK_SIZE.to_bytes(4, "big") + bytes(sealed)
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        self._out = out
        self._buffer = bytearray()
        out.write(self._ad + header)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) > CHUNK_SIZE:  # the last chunk is pushed by close()
            self._push(bytes(self._buffer[:CHUNK_SIZE]), _TAG_MESSAGE)
            del self._buffer[:CHUNK_SIZE]
        return len(data)

    def close(self) -> None:
        self._push(bytes(self._buffer), _TAG_FINAL)
        self._buffer.clear()

    def _push(self, chunk: bytes, tag: int) -> None:
        self._out.write(sodium.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, self._ad, tag))


_COMPACT_AFTER = 1024 * 1024


class _DecryptingReader:
    """A read-only file of a backup's plaintext; raises BackupError on any damage."""

    def __init__(self, source: BinaryIO, private_key: PrivateKey) -> None:
        preamble = read_exactly(source, _PREAMBLE_SIZE + _HEADERBYTES)
        if len(preamble) < _PREAMBLE_SIZE + _HEADERBYTES or preamble[:4] != BACKUP_MAGIC:
            raise BackupError("this is not a Parrhesia backup")
        if preamble[4] != BACKUP_VERSION:
            raise BackupError(f"unsupported backup version {preamble[4]}; this software reads version {BACKUP_VERSION}")
        self._chunk = int.from_bytes(preamble[5:9], "big")
        if not 1 <= self._chunk <= 16 * 1024 * 1024:
            raise BackupError(_DAMAGED)
        self._ad = preamble[:_PREAMBLE_SIZE]
        try:
            key = SealedBox(private_key).decrypt(preamble[9:_PREAMBLE_SIZE])
        except nacl.exceptions.CryptoError:
            raise BackupError("this backup is not encrypted to this key") from None
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        try:
            sodium.crypto_secretstream_xchacha20poly1305_init_pull(self._state, preamble[_PREAMBLE_SIZE:], key)
        except nacl.exceptions.CryptoError:
            raise BackupError(_DAMAGED) from None
        self._source = source
        # Decrypted bytes not yet read, from self._position on: tar reads in small blocks,
        # so the buffer is consumed by moving a position, not by copying what is left.
        self._buffer = bytearray()
        self._position = 0
        self._final = False

    def read(self, size: int = -1) -> bytes:
        while not self._final and (size < 0 or len(self._buffer) - self._position < size):
            self._pull()
        end = len(self._buffer) if size < 0 else min(self._position + size, len(self._buffer))
        data = bytes(self._buffer[self._position:end])
        self._position = end
        if self._position >= _COMPACT_AFTER:
            del self._buffer[:self._position]
            self._position = 0
        return data

    def finish(self) -> None:
        """Read to the end: the FINAL chunk must come, and nothing after it."""
        while not self._final:
            self._pull()
            self._buffer.clear()
            self._position = 0

    def _pull(self) -> None:
        ciphertext = read_exactly(self._source, self._chunk + _ABYTES)
        if len(ciphertext) < _ABYTES:
            raise BackupError("the backup is truncated")
        try:
            chunk, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(self._state, ciphertext, self._ad)
        except nacl.exceptions.CryptoError:
            raise BackupError(_DAMAGED) from None
        if tag == _TAG_FINAL:
            if self._source.read(1):
                raise BackupError(_DAMAGED)
            self._final = True
        elif len(ciphertext) < self._chunk + _ABYTES:
            raise BackupError("the backup is truncated")
        self._buffer += chunk


# --- making a backup -------------------------------------------------------------------


def create_backup(instance_dir: str | os.PathLike[str], out: BinaryIO, operator_public_key: bytes) -> BackupResult:
    """Write an encrypted backup of a running instance to ``out``.

    The database is snapshotted first (a temporary file inside the instance folder,
    removed afterwards), then the blobs its parts name are copied; a missing one is
    listed in the result and the manifest, never silently skipped.
    """
    config = load_config(instance_dir)
    store = BlobStore(config.blob_dir)
    with tempfile.TemporaryDirectory(dir=config.path, prefix=".backup-") as scratch:
        dialect, schema, dump, blob_names = _snapshot_database(config.database_url, Path(scratch))
        result = BackupResult(dialect=dialect, parts=len(blob_names))
        writer = _EncryptingWriter(out, operator_public_key)
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            _add_path(tar, CONFIG_FILE, config.path / CONFIG_FILE)
            for secret in sorted(config.secrets_dir.iterdir()):
                if secret.is_file() and _MEMBER.match(f"secrets/{secret.name}"):
                    _add_path(tar, f"secrets/{secret.name}", secret)
            _add_path(tar, SQLITE_MEMBER if dialect == "sqlite" else PGDUMP_MEMBER, dump)
            dump.unlink()  # the snapshot is plaintext metadata: gone as soon as it is packed
            for name in sorted(set(blob_names)):
                try:
                    path = store.path_for(name)
                    with open(path, "rb") as blob:
                        _add_file(tar, f"blobs/{name[:2]}/{name}", blob, os.fstat(blob.fileno()).st_size)
                    result.blobs += 1
                except (FileNotFoundError, ValueError):
                    result.missing_blobs.append(name)
            onion_dirs = _onion_dirs(config.raw)
            for index, folder in enumerate(onion_dirs):
                for name, path in _onion_files(folder):
                    try:
                        _add_path(tar, f"tor/{index}/{name}", path)
                    except FileNotFoundError:
                        continue
                    except PermissionError:
                        result.unreadable.append(str(path))
                        continue
                    result.onion_files += 1
            manifest = {
                "format": "parrhesia-backup",
                "version": BACKUP_VERSION,
                "database": {"dialect": dialect, "schema": schema},
                "parts": result.parts,
                "blobs": result.blobs,
                "missing_blobs": result.missing_blobs,
                "onion_dirs": [str(folder) for folder in onion_dirs],
            }
            data = json.dumps(manifest, indent=2).encode("utf-8")
            _add_file(tar, MANIFEST, io.BytesIO(data), len(data))
        writer.close()
    return result


def _snapshot_database(url: str, scratch: Path) -> tuple[str, str | None, Path, list[str]]:
    """Snapshot the database into ``scratch``: its dialect, schema, dump file and the
    blob names its parts table holds, all as of one instant."""
    parsed = make_url(url)
    try:
        if parsed.get_backend_name() == "sqlite":
            return _snapshot_sqlite(parsed.database, scratch / "parrhesia.db")
        if parsed.get_backend_name() == "postgresql":
            return _snapshot_postgresql(url, scratch / "parrhesia.pgdump")
    except (sqlite3.Error, SQLAlchemyError) as exc:
        raise BackupError(f"the database cannot be read ({type(exc).__name__}): is the instance initialised?") from None
    raise BackupError(f"cannot back up a {parsed.get_backend_name()} database")


def _snapshot_sqlite(database: str | None, target: Path) -> tuple[str, str | None, Path, list[str]]:
    if not database or database == ":memory:" or not Path(database).is_file():
        raise BackupError(f"there is no SQLite database at {database}")
    source = sqlite3.connect(database)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one step: a consistent copy even while others write
        names = [row[0] for row in copy.execute("SELECT blob FROM parts")]
    finally:
        copy.close()
        source.close()
    return "sqlite", None, target, names


def _snapshot_postgresql(url: str, target: Path) -> tuple[str, str | None, Path, list[str]]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                # pg_dump reads the very snapshot in which the parts are listed.
                snapshot = connection.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
                schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
                names = list(connection.exec_driver_sql("SELECT blob FROM parts").scalars())
                uri, env = _libpq(url)
                _run(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--schema={schema}",
                      "--no-owner", "--no-acl", f"--file={target}", f"--dbname={uri}"], env=env)
    finally:
        engine.dispose()
    return "postgresql", str(schema), target, names


def _onion_dirs(raw: dict[str, Any]) -> list[Path]:
    """The onion service folders the ``[tor]`` table names (none without one)."""
    tor = raw.get("tor")
    if not isinstance(tor, dict):
        return []
    return [Path(value) for key, value in sorted(tor.items()) if key.endswith(ONION_DIR_SUFFIX) and isinstance(value, str) and value]


def _onion_files(folder: Path) -> Iterator[tuple[str, Path]]:
    """An onion service's keys, address and authorised clients (names inside ``tor/N/``).

    Every key file is yielded, present or not: one this user cannot read (tor's folder
    is 0700) must be reported, not skipped as if it did not exist.
    """
    for name in ONION_KEY_FILES:
        yield name, folder / name
    try:
        clients = sorted((folder / ONION_CLIENTS).iterdir())
    except FileNotFoundError:
        return
    except PermissionError:
        yield ONION_CLIENTS, folder / ONION_CLIENTS
        return
    for path in clients:
        if path.is_file() and _MEMBER.match(f"tor/0/{ONION_CLIENTS}/{path.name}"):
            yield f"{ONION_CLIENTS}/{path.name}", path


def _add_path(tar: tarfile.TarFile, name: str, path: Path) -> None:
    with open(path, "rb") as handle:
        _add_file(tar, name, handle, os.fstat(handle.fileno()).st_size)


def _add_file(tar: tarfile.TarFile, name: str, handle: IO[bytes], size: int) -> None:
    # No owner, mode or time: a blob's time would tell when a source wrote.
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0
    tar.addfile(info, handle)


# --- restoring --------------------------------------------------------------------------


def restore_backup(
    backup_file: str | os.PathLike[str],
    instance_dir: str | os.PathLike[str],
    private_key: PrivateKey,
    *,
    database_url: str | None = None,
) -> RestoreResult:
    """Restore a backup into a new instance folder and check that the instance opens.

    The whole file is decrypted once first: a wrong key, a damaged or a tampered backup
    is refused before anything is written. ``instance_dir`` must be missing or empty.
    An SQLite backup goes to ``instance_dir/parrhesia.db`` unless ``database_url`` names
    another place; a PostgreSQL backup needs ``database_url`` (an empty database, or
    the schema its ``options=-csearch_path=…`` names), so a live one is never overwritten.
    ``database_url`` is written to the restored ``parrhesia.toml``.
    """
    root = Path(instance_dir).resolve()
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise BackupError(f"{root} is not empty: restore into a new folder")
    with open(backup_file, "rb") as source:
        manifest = _read_members(source, private_key, None)
    database = manifest.get("database")
    dialect = database.get("dialect") if isinstance(database, dict) else None
    if not isinstance(database, dict) or dialect not in ("sqlite", "postgresql"):
        raise BackupError("the backup's manifest names no database")
    if database_url is None:
        if dialect == "postgresql":
            raise BackupError("this backup holds a PostgreSQL database: give --database-url of an empty one")
        database_url = f"sqlite:///{root / 'parrhesia.db'}"
    overriding = os.environ.get(DATABASE_URL_ENV)
    if overriding and overriding != database_url:
        raise BackupError(f"${DATABASE_URL_ENV} is set and would override the restored database_url: unset it")
    target = make_url(database_url)
    if target.get_backend_name() != dialect:
        raise BackupError(f"this backup holds a {dialect} database; {target.get_backend_name()} cannot take it")
    if dialect == "sqlite" and (not target.database or Path(target.database).exists()):
        raise BackupError(f"{target.database} already exists: restore the database to a new file")
    created = not root.exists()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with open(backup_file, "rb") as source:
            _read_members(source, private_key, root)
        dump = root / PGDUMP_MEMBER if dialect == "postgresql" else root / SQLITE_MEMBER
        if not dump.is_file():
            raise BackupError(f"the backup holds no {dialect} database")
        if dialect == "sqlite":
            assert target.database is not None  # nosec B101
            Path(target.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.move(dump, target.database)
        else:
            _pg_restore(dump, database_url, str(database.get("schema") or "public"))
            dump.unlink()
        (root / "database").rmdir()
        _rewrite_database_url(root / CONFIG_FILE, database_url)
        _check_opens(root)
    except BaseException:
        if created:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return RestoreResult(
        instance_dir=root,
        database_url=database_url,
        blobs=int(manifest.get("blobs", 0)),
        missing_blobs=list(manifest.get("missing_blobs", [])),
        onion_dirs=list(manifest.get("onion_dirs", [])),
    )


def _read_members(source: BinaryIO, private_key: PrivateKey, root: Path | None) -> dict[str, Any]:
    """Decrypt and walk the archive, writing its files under ``root`` (nothing if None);
    return the manifest. Only regular files with the names a backup uses are accepted."""
    reader = _DecryptingReader(source, private_key)
    manifest: dict[str, Any] | None = None
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
            for member in tar:
                if not member.isreg() or not _MEMBER.match(member.name) or member.name in seen:
                    raise BackupError(f"the backup holds an unexpected entry {member.name!r}")
                seen.add(member.name)
                handle = tar.extractfile(member)
                assert handle is not None  # nosec B101
                if member.name == MANIFEST:
                    manifest = json.loads(handle.read(1024 * 1024))
                elif root is not None:
                    _write_member(root / member.name, handle, directory_mode=0o700)
                else:
                    while handle.read(CHUNK_SIZE):
                        pass
    except tarfile.TarError:
        raise BackupError(_DAMAGED) from None
    reader.finish()
    if not isinstance(manifest, dict) or manifest.get("format") != "parrhesia-backup":
        raise BackupError("the backup has no manifest")
    return manifest


def _write_member(path: Path, handle: IO[bytes], *, directory_mode: int) -> None:
    path.parent.mkdir(mode=directory_mode, parents=True, exist_ok=True)
    with open_private(path) as out:
        shutil.copyfileobj(handle, out, CHUNK_SIZE)
        out.flush()
        os.fsync(out.fileno())


# pg_dump, pg_restore and psql run from PATH with argument lists, never through a shell.
def _pg_restore(dump: Path, url: str, old_schema: str) -> None:
    """Restore a dump into the schema of ``url`` (its search_path, else public), in one
    transaction: pg_restore writes the SQL, whose schema-qualified names are moved
    from the backed-up schema to the target one, and psql runs it."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one_or_none()
            if schema is None:
                raise BackupError("the schema that --database-url names does not exist: create it first")
            tables = connection.exec_driver_sql(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
            ).scalar_one()
    except SQLAlchemyError as exc:
        raise BackupError(f"the database of --database-url cannot be reached ({type(exc).__name__})") from None
    finally:
        engine.dispose()
    if tables:
        raise BackupError(f"the schema {schema} of --database-url already holds tables: restore into an empty one")
    uri, env = _libpq(url)
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: psql never blocks on it
        producer = subprocess.Popen(  # nosec B603 B607
            ["pg_restore", "--no-owner", "--no-acl", "--file=-", str(dump)], stdout=subprocess.PIPE,
            stderr=errors, env=env,
        )
        consumer = subprocess.Popen(  # nosec B603 B607
            ["psql", "--quiet", "--no-psqlrc", "--single-transaction", "--set=ON_ERROR_STOP=1", f"--dbname={uri}"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors, env=env,
        )
        assert producer.stdout is not None and consumer.stdin is not None  # nosec B101
        try:
            for line in _move_schema(producer.stdout, old_schema, str(schema)):
                consumer.stdin.write(line)
        except BrokenPipeError:
            pass  # psql stopped at an error: its message is in `errors`
        finally:
            with suppress(BrokenPipeError):
                consumer.stdin.close()
            producer.stdout.close()
        failed = (producer.wait() != 0) | (consumer.wait() != 0)
        if failed:
            errors.seek(0)
            detail = [line for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
            raise BackupError(f"the database could not be restored: {detail[0] if detail else 'pg_restore failed'}")


def _move_schema(lines: Iterable[bytes], old: str, new: str) -> Iterator[bytes]:
    """Rename ``old.`` to ``new.`` in a dump's SQL statements, never in its COPY data."""
    if old == new:
        yield from lines
        return
    qualified = re.compile(rb'(?<![\w"$.])(?:' + re.escape(_quote(old).encode()) + rb")\.")
    replacement = _quote(new).encode() + b"."
    create = f"CREATE SCHEMA {_quote(old)};\n".encode()
    in_copy = False
    for line in lines:
        if in_copy:
            in_copy = line != b"\\.\n"
            yield line
            continue
        if line == create:
            yield f"CREATE SCHEMA IF NOT EXISTS {_quote(new)};\n".encode()
            continue
        if line.startswith(b"COPY ") and line.rstrip().endswith(b"FROM stdin;"):
            in_copy = True
        yield qualified.sub(replacement, line)


def _quote(identifier: str) -> str:
    """An identifier as pg_dump writes it: bare if it can be, else double-quoted."""
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", identifier):
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy PostgreSQL URL as a libpq connection URI, its password in the
    environment (never on a command line others can read)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    netloc = urllib.parse.quote(parsed.username or "", safe="")
    netloc = f"{netloc}@" if netloc else ""
    netloc += parsed.host or ""
    if parsed.port:
        netloc += f":{parsed.port}"
    query = urllib.parse.urlencode(
        [(key, value) for key, values in parsed.query.items() for value in ([values] if isinstance(values, str) else values)]
    )
    return f"postgresql://{netloc}/{urllib.parse.quote(parsed.database or '')}" + (f"?{query}" if query else ""), env


def _run(command: list[str], *, env: dict[str, str]) -> None:
    try:
        completed = subprocess.run(command, env=env, capture_output=True, check=False)  # nosec B603
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client tools)") from None
    if completed.returncode != 0:
        detail = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BackupError(f"{command[0]} failed: {detail[0] if detail else completed.returncode}")


def _rewrite_database_url(config_file: Path, database_url: str) -> None:
    document = tomllib.loads(config_file.read_text(encoding="utf-8"))
    instance = document.setdefault("instance", {})
    if instance.get("database_url") == database_url:
        return
    instance["database_url"] = database_url
    config_file.write_text(tomli_w.dumps(document), encoding="utf-8")


def _check_opens(root: Path) -> None:
    from parrhesia.instance import open_instance
    from parrhesia.storage.migrate import check_schema

    instance = open_instance(root)
    try:
        check_schema(instance.engine)
    finally:
        instance.dispose()


@contextmanager
def atomic_output(path: Path) -> Iterator[BinaryIO]:
    """A new file written under a temporary name, renamed into place only when whole."""
    if path.exists():
        raise BackupError(f"{path} already exists; refusing to overwrite it")
    temp = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        with open_private(temp) as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(temp, path)  # fails rather than replace a file that appeared meanwhile
        except FileExistsError:
            raise BackupError(f"{path} already exists; refusing to overwrite it") from None
        except OSError:  # a file system without hard links
            if path.exists():
                raise BackupError(f"{path} already exists; refusing to overwrite it") from None
            os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
