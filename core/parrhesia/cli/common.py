"""Helpers shared by the commands: opening instances and reading passphrases."""

from __future__ import annotations

from pathlib import Path

import click

from parrhesia.config import ConfigError
from parrhesia.instance import Instance, open_instance
from parrhesia.storage.migrate import SchemaError

__all__ = ["instance_option", "load_instance", "read_passphrase"]

instance_option = click.option(
    "--instance",
    "instance_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PARRHESIA_INSTANCE",
    help="The instance folder (or $PARRHESIA_INSTANCE).",
)


def load_instance(path: Path) -> Instance:
    """Open an instance, turning configuration problems into one clear CLI error."""
    try:
        return open_instance(path)
    except (ConfigError, SchemaError) as exc:
        raise click.ClickException(str(exc)) from None


def read_passphrase(passphrase_file: Path | None, *, confirm: bool = False) -> bytes:
    """A passphrase from a file (first line) or from a hidden prompt."""
    if passphrase_file is not None:
        try:
            text = passphrase_file.read_text(encoding="utf-8").splitlines()[0]
        except (OSError, IndexError, UnicodeDecodeError):
            raise click.ClickException(f"Cannot read a passphrase from {passphrase_file}.") from None
    else:
        text = click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm)
    if not text:
        raise click.ClickException("The passphrase is empty.")
    return text.encode("utf-8")
