"""``parrhesia doctor``: what an operator (or a monitoring job) should know about an instance.

Each check returns one :class:`Check`: a status (``OK``, ``WARN``, ``FAIL``), what was
checked and what to do. A ``FAIL`` means the instance will not start or a report could
reach nobody; a ``WARN`` means something to look at (plaintext could reach a disk, a
timer is not running, a body cannot read). The checks read and never repair: the only
thing they write is a test file in the blob store, removed at once.

The last tick is recorded by ``parrhesia tick`` in ``DIR/state/last-tick`` (see
:func:`record_tick`): one line, the UTC time of the run in ISO 8601. A file rather than
a database row, so that recording it needs no migration and cannot fail a tick's
transaction; it is written after the tick commits, so it says when a tick last worked.
"""

from __future__ import annotations

import os
import resource
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from parrhesia.config import ConfigError, InstanceConfig, load_config
from parrhesia.storage.migrate import HEAD, current_revision

__all__ = [
    "Check",
    "Status",
    "TICK_FILE",
    "record_tick",
    "last_tick",
    "run_checks",
    "check_config",
    "check_plugins",
    "check_plugin_errors",
    "check_schema",
    "check_secrets",
    "check_receipt_key",
    "check_blob_store",
    "check_free_disk",
    "disk_check",
    "check_swap",
    "swap_check",
    "check_core_dumps",
    "core_dump_check",
    "check_last_tick",
    "check_notification_queue",
    "check_unreadable_bodies",
    "check_last_resort",
    "check_onion_services",
]

TICK_FILE = Path("state") / "last-tick"
GIB = 1024**3
PLUGIN_ERROR_DAYS = 7
TICK_MAX_AGE = timedelta(days=2)
QUEUE_MAX_AGE = timedelta(days=2)


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``title`` says what was checked, ``advice`` what was
    found and what to do about it."""

    status: Status
    title: str
    advice: str = ""

    def line(self) -> str:
        return f"{self.status.value:<4} {self.title}" + (f": {self.advice}" if self.advice else "")


# The tick's record -------------------------------------------------------------------


def record_tick(instance_path: Path, when: datetime | None = None) -> None:
    """Write the time of a successful tick to ``DIR/state/last-tick`` (atomically)."""
    path = instance_path / TICK_FILE
    path.parent.mkdir(mode=0o700, exist_ok=True)
    stamp = (when or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".last-tick.")
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(stamp + "\n")
    os.replace(temporary, path)


def last_tick(instance_path: Path) -> datetime | None:
    """When ``parrhesia tick`` last succeeded, or None if it never recorded a run."""
    try:
        return datetime.fromisoformat((instance_path / TICK_FILE).read_text(encoding="ascii").strip())
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return None


# Configuration, plugins, database ----------------------------------------------------


def check_config(instance_path: Path) -> Check:
    title = "configuration parrhesia.toml"
    try:
        config = load_config(instance_path)
    except ConfigError as problem:
        return Check(Status.FAIL, title, f"{problem} Fix the file; nothing else can be checked until then.")
    return Check(Status.OK, title, f"valid (bodies: {len(config.bodies)}, plugins enabled: {len(config.plugins)})")


def check_plugins(config: InstanceConfig) -> Check:
    from parrhesia.domain.host import load_host

    title = "plugins load"
    try:
        host = load_host(config)
    except ConfigError as problem:
        return Check(Status.FAIL, title, f"{problem} The instance will not start: fix or disable the plugin.")
    return Check(Status.OK, title, f"enabled: {len(config.plugins)}, bodies in the directory: {len(host.directory.bodies)}")


def check_plugin_errors(engine: Engine, today: date) -> Check:
    from parrhesia.storage.models import PluginError

    title = f"plugin errors in the last {PLUGIN_ERROR_DAYS} days"
    since = today - timedelta(days=PLUGIN_ERROR_DAYS)
    with Session(engine) as db:
        count = db.scalar(select(func.count()).select_from(PluginError).where(PluginError.occurred_on >= since)) or 0
    if count:
        return Check(Status.WARN, title, f"{count} recorded: list them with `parrhesia plugins errors` and tell the plugin's maintainers")
    return Check(Status.OK, title, "none")


def check_schema(engine: Engine, instance_path: Path) -> Check:
    title = "database schema"
    current = current_revision(engine)
    if current == HEAD:
        return Check(Status.OK, title, f"at revision {HEAD}")
    if current is not None and current > HEAD:  # revisions are zero-padded numbers
        return Check(Status.FAIL, title, f"at revision {current}, newer than this version of Parrhesia ({HEAD}): install the version that migrated it")
    state = "has no Parrhesia schema" if current is None else f"at revision {current}, this version needs {HEAD}"
    return Check(Status.FAIL, title, f"{state}: run `parrhesia init --instance {instance_path}` to apply the migrations")


def check_secrets(config: InstanceConfig, engine: Engine) -> Check:
    """The pepper and the codename derivation, read and compared with the database's
    facts by the very function start-up uses (``instance.assemble``)."""
    from parrhesia.instance import assemble

    title = "pepper and codename derivation match the database"
    try:
        assemble(config, engine).dispose()  # disposing only closes pooled connections
    except ConfigError as problem:
        return Check(Status.FAIL, title, str(problem))
    except OSError:
        return Check(Status.WARN, title, "not checked: the blob store cannot be opened (see its line)")
    return Check(Status.OK, title)


def check_receipt_key(config: InstanceConfig) -> Check:
    """The key that signs sources' receipts: readable, sound, and readable by its owner only."""
    from parrhesia.crypto import fingerprint
    from parrhesia.instance import RECEIPT_KEY_FILE, read_receipt_signing_key

    title = "receipt signing key"
    path = config.secrets_dir / RECEIPT_KEY_FILE
    try:
        key = read_receipt_signing_key(config)
    except ConfigError as problem:
        return Check(Status.FAIL, title, f"{problem} Sources cannot get a receipt until then.")
    if key is None:
        return Check(Status.WARN, title, f"{path} does not exist yet: run `parrhesia keys instance-signing show "
                     f"--instance {config.path}` to make it, and publish what it prints (keys/README.md)")
    if path.stat().st_mode & 0o077:
        return Check(Status.WARN, title, f"{path} can be read by other users: `chmod 600 {path}`")
    return Check(Status.OK, title, f"fingerprint {fingerprint(bytes(key.verify_key))}: the one published in keys/ "
                 "and shown on the landing page must be this one")


def check_key_manifest(config: InstanceConfig, engine: Engine, today: date) -> Check:
    """The signed key manifest: installed, its signature sound, listing the keys held now."""
    from sqlalchemy.orm import Session

    from parrhesia.crypto.manifest import ManifestError
    from parrhesia.domain import key_manifest

    title = "signed key manifest"
    try:
        installed = key_manifest.installed(config)
    except ManifestError as problem:
        return Check(Status.FAIL, title, f"{config.path / key_manifest.MANIFEST_FILE} does not verify ({problem}): "
                     "install a freshly signed one (`parrhesia keys manifest --help`)")
    if installed is None:
        return Check(Status.WARN, title, "none installed: sources can only compare fingerprints with what each body "
                     "publishes; `parrhesia keys manifest --help` says how to sign one offline")
    with Session(engine) as db:
        stale = key_manifest.differences(installed.facts, key_manifest.current_facts(db, config, on=today))
    if stale:
        return Check(Status.WARN, title, f"signed on {installed.facts.issued}, but {'; '.join(stale)}: draft, sign "
                     "and install a new one")
    return Check(Status.OK, title, f"signed on {installed.facts.issued} by {installed.manifest_fingerprint}, current")


def check_notification_queue(engine: Engine, today: date) -> Check:
    from parrhesia.storage.models import QueuedNotification

    title = "notification queue draining"
    before = today - QUEUE_MAX_AGE
    with Session(engine) as db:
        count = db.scalar(
            select(func.count()).select_from(QueuedNotification).where(QueuedNotification.created_on < before)
        ) or 0
    if count:
        return Check(Status.WARN, title, f"{count} notification(s) queued for more than {QUEUE_MAX_AGE.days} days: "
                     "is the parrhesia-notify timer running (`systemctl list-timers`)? See `journalctl -u parrhesia-notify`")
    return Check(Status.OK, title)


def check_unreadable_bodies(engine: Engine, body_ids: set[str]) -> Check:
    from parrhesia.domain.custody import readable_bodies

    title = "every body in the directory can read"
    with Session(engine) as db:
        unreadable = sorted(body_ids - readable_bodies(db, body_ids))
    if unreadable:
        return Check(Status.WARN, title, f"no recipient can read for {', '.join(unreadable)}: routing skips them; "
                     "register a recipient (`parrhesia recipients add`) who creates the body key (`parrhesia desk body-key create`)")
    return Check(Status.OK, title)


def check_last_resort(engine: Engine, last_resort: tuple[str, ...]) -> Check:
    from parrhesia.domain.custody import readable_bodies

    title = "recipient of last resort can read"
    with Session(engine) as db:
        readable = readable_bodies(db, last_resort)
    if not readable:
        return Check(Status.FAIL, title, f"none of {', '.join(last_resort)} has a recipient able to read: a report "
                     "routed nowhere else would reach nobody; register a recipient there who creates the body key")
    return Check(Status.OK, title, ", ".join(sorted(readable)))


# The blob store and its disk ---------------------------------------------------------


def check_blob_store(blob_dir: Path) -> Check:
    """Writable, and on the same filesystem as its temporaries (a blob is renamed into
    place: across filesystems the rename fails, or is a copy that a crash can tear)."""
    title = f"blob store {blob_dir} writable"
    tmp_dir = blob_dir / ".tmp"
    if not blob_dir.is_dir():
        return Check(Status.FAIL, title, "it is not a folder: restore it (ciphertext of every report) from the backup, "
                     "or create it owned by the service's user, mode 0700")
    if tmp_dir.exists() and not tmp_dir.is_dir():
        return Check(Status.FAIL, title, f"{tmp_dir} is not a folder: remove it (the instance recreates it)")
    if tmp_dir.is_dir() and tmp_dir.stat().st_dev != blob_dir.stat().st_dev:
        return Check(Status.FAIL, title, f"{tmp_dir} is on another filesystem than the store: blobs are renamed "
                     "from one to the other; unmount whatever is mounted there")
    try:
        fd, temporary = tempfile.mkstemp(dir=tmp_dir if tmp_dir.is_dir() else blob_dir, prefix="doctor-")
        os.close(fd)
        target = blob_dir / f".doctor-{Path(temporary).name}"  # dot names are never blobs
        os.replace(temporary, target)  # the way a blob is committed
        target.unlink()
    except OSError as problem:
        return Check(Status.FAIL, title, f"cannot write there ({problem.strerror}): give the service's user write access")
    return Check(Status.OK, title)


def disk_check(free: int, total: int, where: Path, reserve: int = GIB) -> Check:
    """FAIL below the reserve new uploads must leave (instance.upload_disk_reserve_mb), where they are refused."""
    title = f"free disk where blobs are ({where})"
    share = free / total if total else 0.0
    found = f"{free / GIB:.1f} GiB free ({share:.0%})"
    if share < 0.02 or free < max(reserve, 1):
        return Check(Status.FAIL, title, f"{found}: uploads will fail; free space or grow the filesystem now")
    if share < 0.10:
        return Check(Status.WARN, title, f"{found}: free space or grow the filesystem soon")
    return Check(Status.OK, title, found)


def check_free_disk(blob_dir: Path, reserve: int = GIB) -> Check:
    where = blob_dir if blob_dir.exists() else blob_dir.parent
    stats = os.statvfs(where)
    return disk_check(stats.f_bavail * stats.f_frsize, stats.f_blocks * stats.f_frsize, where, reserve)


# This machine -----------------------------------------------------------------------


def swap_check(proc_swaps: str | None) -> Check:
    """``proc_swaps`` is the text of /proc/swaps (None: unreadable)."""
    title = "swap off or encrypted"
    if proc_swaps is None:
        return Check(Status.WARN, title, "cannot read /proc/swaps: make sure swap is off or encrypted")
    devices = [line.split()[0] for line in proc_swaps.splitlines()[1:] if line.strip()]
    plain = [d for d in devices if not (d.startswith("/dev/mapper/") or d.startswith("/dev/dm-"))]
    if plain:
        return Check(Status.WARN, title, f"plaintext can reach swap on {', '.join(plain)}: turn it off (`swapoff`) or "
                     "encrypt it (dm-crypt), or keep MemorySwapMax=0 in the service (deploy/parrhesia.service)")
    return Check(Status.OK, title, "encrypted: " + ", ".join(devices) if devices else "no swap")


def check_swap(path: Path = Path("/proc/swaps")) -> Check:
    try:
        return swap_check(path.read_text(encoding="utf-8"))
    except OSError:
        return swap_check(None)


def core_dump_check(soft_limit: int) -> Check:
    title = "core dumps off"
    if soft_limit == 0:
        return Check(Status.OK, title)
    shown = "unlimited" if soft_limit == resource.RLIM_INFINITY else str(soft_limit)
    return Check(Status.WARN, title, f"core size limit is {shown} for this process: a crash could write memory, "
                 "plaintext included, to disk; set LimitCORE=0 in the systemd unit (deploy/parrhesia.service)")


def check_core_dumps() -> Check:
    return core_dump_check(resource.getrlimit(resource.RLIMIT_CORE)[0])


def check_last_tick(instance_path: Path, now: datetime) -> Check:
    title = "clocks ticking (parrhesia tick)"
    when = last_tick(instance_path)
    fix = "enable the parrhesia-tick timer (deploy/parrhesia-tick.timer); see `journalctl -u parrhesia-tick`"
    if when is None:
        return Check(Status.WARN, title, f"no tick ever recorded: deadlines are not enforced; {fix}")
    if now - when > TICK_MAX_AGE:
        return Check(Status.WARN, title, f"last tick {when.isoformat()}: deadlines are not enforced; {fix}")
    return Check(Status.OK, title, f"last tick {when.isoformat()}")


def check_onion_services(config: InstanceConfig) -> Check:
    """The ``[tor]`` table's ``*_onion_dir`` folders each hold tor's ``hostname`` file."""
    title = "Tor onion service"
    tor = config.raw.get("tor")
    folders = {k: v for k, v in tor.items() if k.endswith("_onion_dir")} if isinstance(tor, dict) else {}
    if not folders:
        return Check(Status.WARN, title, "no onion service configured: sources need one (deploy/README.md, Tor onion service)")
    found, missing = [], []
    for key, folder in sorted(folders.items()):
        hostname = config.path / str(folder) / "hostname"
        try:
            found.append(f"{key.removesuffix('_onion_dir')} {hostname.read_text(encoding='ascii').strip()}")
        except (OSError, UnicodeDecodeError):
            missing.append(str(hostname))
    if missing:
        return Check(Status.FAIL, title, f"{', '.join(missing)} missing or unreadable: is tor running with that "
                     "HiddenServiceDir (deploy/torrc), and may this user read it?")
    return Check(Status.OK, title, ", ".join(found))


# All of them --------------------------------------------------------------------------


def run_checks(instance_path: Path, *, now: datetime | None = None) -> Iterator[Check]:
    """Every check, in order; those that need what an earlier one found are skipped,
    with a WARN saying why, when it failed."""
    instance_path = instance_path.resolve()
    now = now or datetime.now(UTC)
    first = check_config(instance_path)
    yield first
    if first.status is Status.FAIL:
        return
    config = load_config(instance_path)
    plugins = check_plugins(config)
    yield plugins

    from parrhesia.domain.host import load_host
    from parrhesia.storage.db import make_engine

    engine = make_engine(config.database_url)
    try:
        try:
            schema = check_schema(engine, instance_path)
        except SQLAlchemyError as problem:
            schema = Check(Status.FAIL, "database schema", f"cannot be opened ({type(problem).__name__}): check database_url and the server")
        yield schema
        current = schema.status is Status.OK
        today = config.today()
        database_checks: list[tuple[str, Callable[[], Check]]] = [
            ("pepper and codename derivation match the database", lambda: check_secrets(config, engine)),
            (f"plugin errors in the last {PLUGIN_ERROR_DAYS} days", lambda: check_plugin_errors(engine, today)),
            ("notification queue draining", lambda: check_notification_queue(engine, today)),
        ]
        if plugins.status is Status.OK:
            bodies = set(load_host(config).directory.bodies)
            database_checks.append(("every body in the directory can read", lambda: check_unreadable_bodies(engine, bodies)))
        else:
            yield Check(Status.WARN, "every body in the directory can read", "not checked: the plugins do not load")
        database_checks.append(("recipient of last resort can read", lambda: check_last_resort(engine, config.last_resort)))
        database_checks.append(("signed key manifest", lambda: check_key_manifest(config, engine, today)))
        for title, check in database_checks:
            if not current:
                yield Check(Status.WARN, title, "not checked: the database schema is not current")
                continue
            try:
                yield check()
            except SQLAlchemyError as problem:
                yield Check(Status.FAIL, title, f"the database query failed ({type(problem).__name__})")
    finally:
        engine.dispose()
    yield check_receipt_key(config)
    yield check_blob_store(config.blob_dir)
    yield check_free_disk(config.blob_dir, config.upload_disk_reserve)
    yield check_swap()
    yield check_core_dumps()
    yield check_last_tick(instance_path, now)
    yield check_onion_services(config)
