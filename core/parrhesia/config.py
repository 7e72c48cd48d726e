"""The instance folder and its TOML configuration.

An instance folder holds everything one deployment owns::

    parrhesia.toml     configuration (this module reads it)
    secrets/           the Flask secret key, the codename pepper and the version of the
                       codename derivation (mode 0600; back them up with the database)
    parrhesia.db       the SQLite database, unless database_url points elsewhere
    blobs/             ciphertext of every message, attachment and reply

Configuration errors are reported as :class:`ConfigError` with one clear sentence, so
that a mistyped file stops start-up instead of changing behaviour silently.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from parrhesia.private_files import write_private_file

__all__ = [
    "BodyConfig",
    "ConfigError",
    "FloodSettings",
    "InstanceConfig",
    "CONFIG_FILE",
    "load_config",
    "read_secret",
    "ensure_secret",
    "DEFAULT_MAX_SUBMISSION_BYTES",
]

CONFIG_FILE = "parrhesia.toml"
DEFAULT_THEME = "default"
DEFAULT_MAX_SUBMISSION_BYTES = 500 * 1000 * 1000
DEFAULT_MAX_CONCURRENT_UPLOADS = 256  # per serving process (deploy/README.md: sizing)
DEFAULT_UPLOAD_DISK_RESERVE = 1024 * 1024 * 1024  # bytes (instance.upload_disk_reserve_mb)
DEFAULT_UPLOAD_IDLE_SECONDS = 60  # Tor gives tens of KB/s or more: these are floors far below it
DEFAULT_UPLOAD_MIN_RATE = 2048  # bytes per second
DATABASE_URL_ENV = "PARRHESIA_DATABASE_URL"
_BODY_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
HOST_INTERFACES = ("source", "desk")
_HOST_NAME = re.compile(r"[a-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9a-f:.]+\](:[0-9]{1,5})?")


class ConfigError(Exception):
    """The instance folder or its configuration cannot be used as it is."""


@dataclass(frozen=True)
class BodyConfig:
    """A receiving body declared in the instance configuration."""

    id: str
    name: str
    kind: str = "agency"
    jurisdiction: str | None = None
    parent: str | None = None


@dataclass(frozen=True)
class FloodSettings:
    """What forms cost and how much the server takes per minute ([flood];
    parrhesia.domain.flood). The defaults ask nothing of a source until a flood."""

    forms_per_minute: int = 20  # of one kind (submission, log-in) before challenges ask anything
    submissions_per_minute: int = 30  # first reports the instance takes per minute
    logins_per_minute: int = 120  # source log-ins the instance takes per minute
    follow_ups_per_minute: int = 60  # messages and files logged-in sources add, per minute
    submit_wait: int = 20  # seconds a submission form waits at the first flood level
    login_wait: int = 4  # seconds a log-in form waits at the first flood level
    bits: int = 18  # a hashcash solution's zero bits at the first flood level, instead of the wait
    max_level: int = 5  # each level doubles the wait and adds a bit (20 s becomes at most 320 s)


@dataclass(frozen=True)
class InstanceConfig:
    """The validated configuration of one instance."""

    path: Path
    name: str
    database_url: str
    max_submission_bytes: int = DEFAULT_MAX_SUBMISSION_BYTES
    # uploads one serving process receives at once; more are refused with a page saying so
    max_concurrent_uploads: int = DEFAULT_MAX_CONCURRENT_UPLOADS
    # a body still arriving is stopped after this long without a byte, or below this
    # average rate once that long has passed (parrhesia.upload.bounds)
    upload_idle_seconds: int = DEFAULT_UPLOAD_IDLE_SECONDS
    upload_min_rate: int = DEFAULT_UPLOAD_MIN_RATE  # bytes per second
    # free disk space a new upload must leave where blobs are; below it uploads are refused
    upload_disk_reserve: int = DEFAULT_UPLOAD_DISK_RESERVE
    session_lifetime: timedelta = timedelta(minutes=60)
    cookie_secure: bool = False
    theme: str = DEFAULT_THEME
    themes_dir: Path | None = None
    languages: tuple[str, ...] = ("en",)
    bodies: tuple[BodyConfig, ...] = ()
    route: tuple[str, ...] = ()
    last_resort: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    timezone: str = "UTC"
    timezones: dict[str, str] = field(default_factory=dict)  # jurisdiction -> time zone
    hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # interface -> Host names ([hosts])
    flood: FloodSettings = field(default_factory=FloodSettings)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def today(self, jurisdiction: str | None = None) -> date:
        """Today where a jurisdiction's deadlines are counted: its time zone from
        ``[timezones]``, else the instance's ``timezone``."""
        zone = self.timezones.get(jurisdiction or "", self.timezone)
        return datetime.now(ZoneInfo(zone)).date()

    @property
    def blob_dir(self) -> Path:
        return self.path / "blobs"

    @property
    def secrets_dir(self) -> Path:
        return self.path / "secrets"

    def body(self, body_id: str) -> BodyConfig | None:
        return next((b for b in self.bodies if b.id == body_id), None)


def default_database_url(instance_path: Path) -> str:
    return f"sqlite:///{(instance_path / 'parrhesia.db').resolve()}"


def load_config(instance_path: str | os.PathLike[str]) -> InstanceConfig:
    """Read and validate ``parrhesia.toml`` from an instance folder."""
    path = Path(instance_path).resolve()
    config_file = path / CONFIG_FILE
    if not config_file.is_file():
        raise ConfigError(
            f"{config_file} does not exist: run `parrhesia init --instance {path}` first."
        )
    try:
        data = tomllib.loads(config_file.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{config_file} is not valid TOML: {exc}") from exc

    instance = _table(data, "instance", config_file)
    bodies = tuple(_body(entry, config_file) for entry in _list(data, "bodies", config_file))
    ids = [b.id for b in bodies]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{config_file}: body ids must be unique, repeated: {duplicates}")
    # Bodies named here may come from plugins: they are checked against the merged
    # directory when the plugins are loaded (parrhesia.domain.host).
    route = tuple(_strings(instance.get("route", ids), "instance.route", config_file))
    last_resort = tuple(_strings(instance.get("last_resort", list(route)), "instance.last_resort", config_file))

    max_bytes = instance.get("max_submission_bytes", DEFAULT_MAX_SUBMISSION_BYTES)
    if not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ConfigError(f"{config_file}: instance.max_submission_bytes must be a positive integer")
    uploads = instance.get("max_concurrent_uploads", DEFAULT_MAX_CONCURRENT_UPLOADS)
    if not isinstance(uploads, int) or isinstance(uploads, bool) or uploads <= 0:
        raise ConfigError(f"{config_file}: instance.max_concurrent_uploads must be a positive integer")
    idle = instance.get("upload_idle_seconds", DEFAULT_UPLOAD_IDLE_SECONDS)
    if not isinstance(idle, int) or isinstance(idle, bool) or not 1 <= idle <= 3600:
        raise ConfigError(f"{config_file}: instance.upload_idle_seconds must be a whole number of seconds, 1 to 3600")
    min_rate = instance.get("upload_min_rate", DEFAULT_UPLOAD_MIN_RATE)
    if not isinstance(min_rate, int) or isinstance(min_rate, bool) or min_rate < 0:
        raise ConfigError(f"{config_file}: instance.upload_min_rate must be a number of bytes per second (0: none)")
    reserve_mb = instance.get("upload_disk_reserve_mb", DEFAULT_UPLOAD_DISK_RESERVE // (1024 * 1024))
    if not isinstance(reserve_mb, int) or isinstance(reserve_mb, bool) or reserve_mb < 0:
        raise ConfigError(f"{config_file}: instance.upload_disk_reserve_mb must be a whole number of MiB (0: none)")
    minutes = instance.get("session_minutes", 60)
    if not isinstance(minutes, int) or not 1 <= minutes <= 24 * 60:
        raise ConfigError(f"{config_file}: instance.session_minutes must be between 1 and 1440")
    themes_dir = instance.get("themes_dir")
    theme = instance.get("theme", DEFAULT_THEME)
    if not isinstance(theme, str) or not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", theme):
        raise ConfigError(f"{config_file}: instance.theme must be a folder name (letters, digits, - and _)")
    if themes_dir is not None and (not isinstance(themes_dir, str) or not themes_dir):
        raise ConfigError(f"{config_file}: instance.themes_dir must be a folder path")
    languages = tuple(_strings(instance.get("languages", ["en"]), "instance.languages", config_file))
    timezone = str(instance.get("timezone", "UTC"))
    timezones = _table(data, "timezones", config_file)
    for setting, zone in [("instance.timezone", timezone), *((f"timezones.{j}", z) for j, z in timezones.items())]:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{config_file}: {setting} {zone!r} is not a known time zone") from None
    if not languages:
        raise ConfigError(f"{config_file}: instance.languages must name at least one language")

    return InstanceConfig(
        path=path,
        name=str(instance.get("name", "Parrhesia")),
        database_url=os.environ.get(DATABASE_URL_ENV)
        or str(instance.get("database_url") or default_database_url(path)),
        max_submission_bytes=max_bytes,
        max_concurrent_uploads=uploads,
        upload_idle_seconds=idle,
        upload_min_rate=min_rate,
        upload_disk_reserve=reserve_mb * 1024 * 1024,
        session_lifetime=timedelta(minutes=minutes),
        cookie_secure=bool(instance.get("cookie_secure", False)),
        theme=theme,
        themes_dir=(path / themes_dir).resolve() if themes_dir else None,
        languages=languages,
        timezone=timezone,
        timezones={str(k): str(v) for k, v in timezones.items()},
        bodies=bodies,
        route=route,
        last_resort=last_resort,
        plugins=tuple(_strings(data.get("plugins", {}).get("enabled", []), "plugins.enabled", config_file)),
        hosts=_hosts(_table(data, "hosts", config_file), config_file),
        flood=_flood(_table(data, "flood", config_file), config_file),
        raw=data,
    )


_FLOOD_BOUNDS = {  # setting: (lowest, highest)
    "forms_per_minute": (1, 100_000),
    "submissions_per_minute": (1, 100_000),
    "follow_ups_per_minute": (1, 100_000),
    "logins_per_minute": (1, 100_000),
    "submit_wait": (0, 3600),
    "login_wait": (0, 600),
    "bits": (1, 32),
    "max_level": (1, 12),
}


def _flood(table: dict[str, Any], config_file: Path) -> FloodSettings:
    unknown = sorted(set(table) - set(_FLOOD_BOUNDS))
    if unknown:
        raise ConfigError(f"{config_file}: unknown [flood] settings {unknown} (known: {sorted(_FLOOD_BOUNDS)})")
    for name, value in table.items():
        low, high = _FLOOD_BOUNDS[name]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{config_file}: flood.{name} must be a whole number from {low} to {high}")
    return FloodSettings(**table)


def read_secret(config: InstanceConfig, name: str) -> bytes:
    """Read a secret created by ``parrhesia init``; a missing one is a ConfigError."""
    secret_file = config.secrets_dir / name
    try:
        value = secret_file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{secret_file} is missing: restore it from the instance's backup "
            "(or, for an instance never initialised, run `parrhesia init`)."
        ) from None
    if len(value) < 32:
        raise ConfigError(f"{secret_file} is too short to be a secret.")
    return value


def ensure_secret(secrets_dir: Path, name: str) -> None:
    """Create a 32-byte random secret readable only by its owner, if it does not exist."""
    secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    secret_file = secrets_dir / name
    if secret_file.exists():
        return
    write_private_file(secret_file, secrets.token_bytes(32))


def _table(data: dict[str, Any], key: str, source: Path) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{source}: [{key}] must be a table")
    return value


def _list(data: dict[str, Any], key: str, source: Path) -> list[Any]:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{source}: {key} must be an array of tables ([[{key}]])")
    return value


def _strings(value: Any, key: str, source: Path) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: {key} must be a list of strings")
    return value


def _hosts(table: dict[str, Any], source: Path) -> dict[str, tuple[str, ...]]:
    """``[hosts]``: the Host names each interface answers on (``source``, ``desk``), in
    lower case; the desk's also serve the API (parrhesia.web.security)."""
    unknown = sorted(set(table) - set(HOST_INTERFACES))
    if unknown:
        raise ConfigError(f"{source}: [hosts] takes only {' and '.join(HOST_INTERFACES)}, not {unknown}")
    hosts = {key: tuple(h.lower() for h in _strings(value, f"hosts.{key}", source)) for key, value in table.items()}
    for key, names in hosts.items():
        bad = [name for name in names if not _HOST_NAME.fullmatch(name)]
        if bad:
            raise ConfigError(f"{source}: hosts.{key} must hold host names (with an optional :port), not {bad}")
    shared = sorted(set(hosts.get("source", ())) & set(hosts.get("desk", ())))
    if shared:
        raise ConfigError(f"{source}: a host cannot serve both the sources and the desk: {shared}")
    return hosts


def _body(entry: Any, source: Path) -> BodyConfig:
    if not isinstance(entry, dict) or "id" not in entry or "name" not in entry:
        raise ConfigError(f"{source}: every [[bodies]] entry needs an id and a name")
    body_id = str(entry["id"])
    if not _BODY_ID.match(body_id):
        raise ConfigError(
            f"{source}: body id {body_id!r} must be lowercase letters, digits, '.', '_' or '-'"
        )
    return BodyConfig(
        id=body_id,
        name=str(entry["name"]),
        kind=str(entry.get("kind", "agency")),
        jurisdiction=entry.get("jurisdiction"),
        parent=entry.get("parent"),
    )
