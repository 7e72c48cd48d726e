"""``parrhesia backup`` and ``parrhesia restore``: an encrypted, consistent copy of an
instance, and a new instance made from one (:mod:`parrhesia.ops.backup`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from parrhesia.cli.common import instance_option, read_passphrase
from parrhesia.config import ConfigError
from parrhesia.crypto import (
    KeyFileError,
    decode_public_key,
    fingerprint,
    looks_like_private_key_file,
    unwrap_private_key,
)
from parrhesia.ops.backup import BackupError, atomic_output, create_backup, restore_backup
from parrhesia.storage.migrate import SchemaError

__all__ = ["backup", "restore"]


@click.command("backup")
@instance_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="The backup file to write (never overwritten), or - for standard output.")
@click.option("--to-key", "to_key", required=True, metavar="prh1pk_…|FILE",
              help="The operator's public key (prh1pk_…), or a file holding it. Its private key stays off the server.")
def backup(instance_dir: Path, out: Path, to_key: str) -> None:
    """Back up a running instance, encrypted to the operator's key."""
    public_key = _operator_public_key(to_key)
    try:
        if str(out) == "-":
            result = create_backup(instance_dir, sys.stdout.buffer, public_key)
        else:
            with atomic_output(out) as handle:
                result = create_backup(instance_dir, handle, public_key)
    except (BackupError, ConfigError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backed up the {result.dialect} database, {result.blobs} blob(s) and the secrets, "
               f"encrypted to {fingerprint(public_key)}.", err=True)
    if result.missing_blobs:
        click.echo(f"Warning: {len(result.missing_blobs)} blob(s) named by the database are missing from "
                   f"the blob store, so their parts cannot be restored: {', '.join(result.missing_blobs)}", err=True)
    if result.unreadable:
        click.echo("Warning: these onion service files could not be read (run the backup as a user who "
                   f"can read them, or back them up once by hand): {', '.join(result.unreadable)}", err=True)
    if result.missing_blobs or result.unreadable:
        sys.exit(2)


@click.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--instance", "instance_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The new instance folder (missing or empty).")
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The operator's private key file (parrhesia keys generate).")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read the key's passphrase from this file's first line instead of prompting.")
@click.option("--database-url", help="Where to restore the database (required for a PostgreSQL backup); "
              "written to the new parrhesia.toml.")
def restore(backup_file: Path, instance_dir: Path, key_file: Path, passphrase_file: Path | None,
            database_url: str | None) -> None:
    """Restore a backup into a new instance folder, and check that it opens."""
    try:
        key = unwrap_private_key(key_file.read_bytes(), read_passphrase(passphrase_file))
    except KeyFileError as exc:
        raise click.ClickException(f"{key_file}: {exc}") from None
    try:
        result = restore_backup(backup_file, instance_dir, key, database_url=database_url)
    except (BackupError, ConfigError, SchemaError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored into {result.instance_dir} ({result.blobs} blob(s)); the instance opens.")
    if result.missing_blobs:
        click.echo(f"Warning: {len(result.missing_blobs)} blob(s) were missing when the backup was made.")
    for index, folder in enumerate(result.onion_dirs):
        click.echo(f"The onion service keys of {folder} are in {result.instance_dir / 'tor' / str(index)}: "
                   "copy them back there (owned by tor, mode 0700) before starting tor.")


def _operator_public_key(value: str) -> bytes:
    """A public key from its text or from a file holding it; never a private key file."""
    text = value
    if not value.strip().startswith("prh1pk_"):
        try:
            data = Path(value).read_bytes()
        except OSError:
            raise click.BadParameter("give a public key (prh1pk_…) or a file holding one", param_hint="--to-key") from None
        if looks_like_private_key_file(data):
            raise click.BadParameter("this file holds a private key: give its public key (prh1pk_…); "
                                     "the operator's private key must never be on the server", param_hint="--to-key")
        text = data.decode("utf-8", "replace")
    try:
        return decode_public_key(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to-key") from None
