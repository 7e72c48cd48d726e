"""``parrhesia recipients``: register the people at a body who can read its reports."""

from __future__ import annotations

import difflib
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli.common import instance_option, load_instance
from parrhesia.crypto import decode_public_key, fingerprint, read_public_key_from_keyfile
from parrhesia.crypto.errors import KeyFileError
from parrhesia.domain.accounts import add_recipient, deactivate_recipient, login_name_taken
from parrhesia.domain.host import load_host
from parrhesia.storage.models import Recipient

__all__ = ["recipients"]


@click.group()
def recipients() -> None:
    """Manage recipients (public keys and API tokens)."""


@recipients.command("add")
@instance_option
@click.option("--body", "body_id", required=True, help="Id of the recipient's body.")
@click.option("--name", required=True, help="The recipient's name or role, as shown to sources.")
@click.option("--public-key", help="The recipient's public key (prh1pk_…).")
@click.option("--public-key-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read the public key from a key file instead (only the public half is read).")
@click.option("--login", "login_name", help="A log-in name for the web desk (TOTP is enrolled at first log-in).")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The desk password, from this file's first line (prompted for otherwise).")
@click.option("--role", type=click.Choice(["recipient", "body_admin"]), default="recipient", show_default=True)
def add(
    instance_dir: Path,
    body_id: str,
    name: str,
    public_key: str | None,
    public_key_file: Path | None,
    login_name: str | None,
    password_file: Path | None,
    role: str,
) -> None:
    """Register a recipient and print their API token."""
    instance = load_instance(instance_dir)
    directory = load_host(instance.config).directory
    if body_id not in directory:
        close = difflib.get_close_matches(body_id, list(directory.bodies), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else " `parrhesia directory` lists the bodies."
        raise click.ClickException(f"No body {body_id!r} in this instance's directory.{hint}")
    if (public_key is None) == (public_key_file is None):
        raise click.ClickException("Give exactly one of --public-key or --public-key-file.")
    try:
        if public_key_file is not None:
            key = read_public_key_from_keyfile(public_key_file.read_bytes())
        else:
            key = decode_public_key(str(public_key))
    except (ValueError, KeyFileError) as exc:
        raise click.ClickException(str(exc)) from None
    password = None
    if login_name is not None:
        from parrhesia.cli.operators import read_password

        password = read_password(password_file)
    with Session(instance.engine) as db:
        if login_name is not None and login_name_taken(db, login_name):
            raise click.ClickException(f"The log-in name {login_name!r} is taken.")
        token = add_recipient(db, body_id=body_id, name=name, public_key=key, login_name=login_name,
                              password=password, role=role, on=instance.config.today())
    click.echo(f"Recipient {name!r} added to {body_id}; key fingerprint {fingerprint(key)}")
    click.echo("They can read the body's reports once they hold its body key: the body's first member creates it "
               "(`parrhesia desk body-key create`), later ones are vouched for by a member (`parrhesia desk vouch`).")
    click.echo("API token (shown once; give it to the recipient over a safe channel):")
    click.echo(token)


@recipients.command("deactivate")
@instance_option
@click.option("--id", "recipient_id", required=True, type=int, help="The recipient's id (see `recipients list`).")
def deactivate(instance_dir: Path, recipient_id: int) -> None:
    """Revoke a recipient: their token stops working; a member then rotates the body key
    (`parrhesia desk body-key rotate`) so that nothing sealed afterwards reaches them."""
    instance = load_instance(instance_dir)
    with Session(instance.engine) as db:
        recipient = db.get(Recipient, recipient_id)
        if recipient is None:
            raise click.ClickException(f"No recipient with id {recipient_id}.")
        deactivate_recipient(db, recipient, actor="cli")
        click.echo(f"Recipient {recipient.name!r} ({recipient.body_id}) deactivated. A member of the body should now "
                   "rotate its key: parrhesia desk body-key rotate.")
    instance.dispose()


@recipients.command("list")
@instance_option
def list_(instance_dir: Path) -> None:
    """List recipients with their bodies and key fingerprints."""
    instance = load_instance(instance_dir)
    with Session(instance.engine) as db:
        for r in db.scalars(select(Recipient).order_by(Recipient.body_id, Recipient.id)):
            state = "active" if r.active else "inactive"
            click.echo(f"{r.id}\t{r.body_id}\t{r.name}\t{fingerprint(r.public_key)}\t{state}")
