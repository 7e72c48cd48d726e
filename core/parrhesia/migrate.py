"""Schema migrations, applied by ``parrhesia init`` and checked at start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

__all__ = ["SchemaError", "upgrade", "current_revision", "head_revision", "check_schema"]

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


class SchemaError(Exception):
    """The database schema is not the one this version of Parrhesia expects."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (idempotent)."""
    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise SchemaError("This installation of Parrhesia ships no migrations.")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise SchemaError unless the database is at the head revision."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "has no Parrhesia schema" if current is None else f"is at revision {current}"
        raise SchemaError(
            f"The database {state}, this version needs {head}: "
            "run `parrhesia init --instance DIR` to apply the migrations."
        )
