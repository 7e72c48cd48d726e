"""``parrhesia keys``: recipient keys, made and kept on the recipient's machine; the
instance's receipt signing key, shown for publishing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


@keys.group("manifest")
def manifest() -> None:
    """The signed key manifest: drafted by the instance, signed offline, served to everyone.

    \b
    1. on an operator's own machine, once:  parrhesia keys generate --out manifest.key
       and  parrhesia keys manifest key --key manifest.key   (publish its fingerprint)
    2. on the server:   parrhesia keys manifest draft --instance DIR --manifest-key prh1vk_… --out draft.txt
    3. offline:         parrhesia keys manifest sign draft.txt --key manifest.key --out manifest.txt
    4. on the server:   parrhesia keys manifest install manifest.txt --instance DIR
    5. anywhere:        parrhesia keys manifest verify manifest.txt --key FINGERPRINT
    """


def _manifest_key(key_file: Path, passphrase_file: Path | None) -> Any:
    from parrhesia.crypto import unwrap_private_key
    from parrhesia.crypto.errors import KeyFileError
    from parrhesia.crypto.manifest import manifest_signing_key

    try:
        return manifest_signing_key(unwrap_private_key(key_file.read_bytes(), read_passphrase(passphrase_file)))
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None


_key_file_option = click.option("--key", "key_file", required=True,
                                type=click.Path(dir_okay=False, exists=True, path_type=Path),
                                help="The manifest key file (made with `parrhesia keys generate`, kept offline).")
_passphrase_option = click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                                  help="Read the key's passphrase from this file's first line (prompted otherwise).")


@manifest.command("key")
@_key_file_option
@_passphrase_option
def manifest_key(key_file: Path, passphrase_file: Path | None) -> None:
    """Print the manifest key a key file gives (to draft with, and to publish)."""
    from parrhesia.crypto.receipt import encode_verify_key

    public = bytes(_manifest_key(key_file, passphrase_file).verify_key)
    click.echo(f"Manifest key: {encode_verify_key(public)}")
    click.echo(f"Fingerprint:  {fingerprint(public)}")
    click.echo("Publish the fingerprint where sources and recipients can compare it (keys/, your website).")


@manifest.command("draft")
@instance_option
@click.option("--manifest-key", required=True, metavar="prh1vk_…", help="The manifest key that will sign it.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def manifest_draft(instance_dir: Path, manifest_key: str, out: Path) -> None:
    """Write the unsigned manifest of the keys the instance holds now."""
    from sqlalchemy.orm import Session

    from parrhesia.cli.common import load_instance
    from parrhesia.domain import key_manifest

    instance = load_instance(instance_dir)
    try:
        with Session(instance.engine) as db:
            text = key_manifest.draft(db, instance.config, manifest_key, on=instance.config.today())
    except ValueError as exc:
        raise click.ClickException(f"--manifest-key: {exc}") from None
    finally:
        instance.dispose()
    if out.exists():
        raise click.ClickException(f"{out} already exists.")
    out.write_bytes(text)
    bodies = text.count(b"\nbody: ")
    recipients = text.count(b"\nrecipient: ")
    click.echo(f"Draft written to {out}: {bodies} body key(s), {recipients} recipient key(s). Sign it offline.")


@manifest.command("sign")
@click.argument("draft", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@_key_file_option
@_passphrase_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def manifest_sign(draft: Path, key_file: Path, passphrase_file: Path | None, out: Path) -> None:
    """Sign a draft with the manifest key (on the operator's own machine)."""
    from parrhesia.crypto.manifest import ManifestError, sign_manifest

    if out.exists():
        raise click.ClickException(f"{out} already exists.")
    try:
        signed = sign_manifest(draft.read_bytes(), _manifest_key(key_file, passphrase_file))
    except ManifestError as exc:
        raise click.ClickException(f"{draft}: {exc}") from None
    out.write_bytes(signed)
    click.echo(f"Signed manifest written to {out}; install it with `parrhesia keys manifest install`.")


@manifest.command("install")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@instance_option
def manifest_install(file: Path, instance_dir: Path) -> None:
    """Check a signed manifest against the keys held now, and serve it (/keys/manifest.txt)."""
    from sqlalchemy.orm import Session

    from parrhesia.cli.common import load_instance
    from parrhesia.crypto.manifest import ManifestError
    from parrhesia.domain import key_manifest

    instance = load_instance(instance_dir)
    try:
        with Session(instance.engine) as db:
            installed = key_manifest.install(db, instance.config, file.read_bytes(), on=instance.config.today())
    except ManifestError as exc:
        raise click.ClickException(f"{file} was not installed: {exc}") from None
    finally:
        instance.dispose()
    click.echo(f"Installed: signed on {installed.facts.issued} by the manifest key "
               f"{installed.manifest_fingerprint}.")


@manifest.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "expected", metavar="prh1vk_…|FINGERPRINT",
              help="The manifest key (or its fingerprint) published by the instance's operators.")
def manifest_verify(file: Path, expected: str | None) -> None:
    """Check a manifest's signature (offline) and print what it vouches for."""
    from parrhesia.crypto.manifest import ManifestError, read_manifest
    from parrhesia.crypto.receipt import names_key

    try:
        found = read_manifest(file.read_bytes())
    except ManifestError as exc:
        raise click.ClickException(f"{file} does not verify: {exc}") from None
    if expected is not None:
        if not names_key(expected, found.manifest_key):
            raise click.ClickException(f"{file} is signed by the manifest key {found.manifest_fingerprint}, "
                                       "not the one given.")
    click.echo(f"Signed on {found.facts.issued} for {found.facts.instance!r} by the manifest key "
               f"{found.manifest_fingerprint}{'' if expected else ' (compare it with the one published)'}.")
    click.echo(f"Receipt signing key: {fingerprint(found.facts.instance_signing_key)}")
    for body in found.facts.bodies:
        click.echo(f"body {body.body_id} (key generation {body.generation}): {body.fingerprint}")
    for recipient in found.facts.recipients:
        click.echo(f"recipient {recipient.recipient_id} of {recipient.body_id}: {recipient.fingerprint}")
