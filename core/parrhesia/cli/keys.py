"""``parrhesia keys``: recipient keys, made and kept on the recipient's machine."""

from __future__ import annotations

from pathlib import Path

import click

from parrhesia.cli.common import read_passphrase
from parrhesia.crypto import encode_public_key, fingerprint, generate_recipient_key, wrap_private_key
from parrhesia.private_files import write_private_file

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """Generate and inspect recipient keys."""


@keys.command("generate")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the passphrase-protected private key file.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read the passphrase from this file's first line instead of prompting.")
def generate(out: Path, passphrase_file: Path | None) -> None:
    """Make a keypair on this machine; print the public key and its fingerprint."""
    if out.exists():
        raise click.ClickException(f"{out} already exists; refusing to overwrite a key.")
    passphrase = read_passphrase(passphrase_file, confirm=True)
    secret = generate_recipient_key()
    write_private_file(out, wrap_private_key(secret, passphrase))
    public = bytes(secret.public_key)
    click.echo(f"Private key (passphrase-protected): {out}")
    click.echo(f"Public key:  {encode_public_key(public)}")
    click.echo(f"Fingerprint: {fingerprint(public)}")
    click.echo("Give the public key to your instance's operator, and compare the fingerprint")
    click.echo("with them over another channel (in person or by phone) before reports are sent.")


