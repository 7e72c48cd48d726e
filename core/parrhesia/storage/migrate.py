"""Schema migrations, applied by ``parrhesia init`` and checked at start-up.

Applying migrations needs Alembic; checking that a database is current does not: it
reads the ``alembic_version`` table and compares it with :data:`HEAD`, so a web worker
never imports Alembic (about 10 MiB of memory). A test keeps :data:`HEAD` equal to the
newest revision in ``migrations/versions``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "SchemaError", "upgrade", "current_revision", "head_revision", "check_schema"]

# The newest revision in migrations/versions (checked by tests/test_storage.py).
HEAD = "0013"

_SCRIPTS = Path(__file__).resolve().parent / "migrations"


class SchemaError(Exception):
    """The database schema is not the one this version of Parrhesia expects."""


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (idempotent)."""
    from alembic import command

    config = _config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def head_revision() -> str:
    """The newest revision as Alembic sees it in the shipped migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    if head is None:
        raise SchemaError("This installation of Parrhesia ships no migrations.")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for a database without our schema."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def check_schema(engine: Engine) -> None:
    """Raise SchemaError unless the database is at :data:`HEAD`."""
    current = current_revision(engine)
    if current != HEAD:
        state = "has no Parrhesia schema" if current is None else f"is at revision {current}"
        raise SchemaError(
            f"The database {state}, this version needs {HEAD}: "
            "run `parrhesia init --instance DIR` to apply the migrations."
        )
