"""``parrhesia keys``: recipient keys, made and kept on the recipient's machine; the
instance's receipt signing key, shown for publishing."""

from __future__ import annotations

from pathlib import Path

import click

from parrhesia.cli.common import instance_option, read_passphrase
from parrhesia.crypto import encode_public_key, fingerprint, generate_recipient_key, wrap_private_key
from parrhesia.private_files import write_private_file

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """Generate and inspect recipient keys; show the instance's receipt signing key."""


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




@keys.group("instance-signing")
def instance_signing() -> None:
    """The instance's receipt signing key (its public half is for publishing)."""


@instance_signing.command("show")
@instance_option
def show_instance_signing(instance_dir: Path) -> None:
    """Print the public key that signs sources' receipts, and its fingerprint.

    Made now if the instance has none yet. The output is a key file for keys/ (for
    example keys/instance-signing.pub); publish it there and wherever sources and
    courts can check it.
    """
    from parrhesia.config import ConfigError, load_config
    from parrhesia.crypto.receipt import encode_verify_key
    from parrhesia.instance import receipt_signing_key

    try:
        public = bytes(receipt_signing_key(load_config(instance_dir)).verify_key)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("# The key that signs receipts given to sources (parrhesia receipt verify FILE --key KEY).")
    click.echo(f'public_key = "{encode_verify_key(public)}"')
    click.echo(f'fingerprint = "{fingerprint(public)}"')
