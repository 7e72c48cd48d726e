"""``parrhesia onion``: client authorisation of the desk's onion service.

The desk and the API sit on an onion service of their own (deploy/torrc) whose
descriptor tor encrypts to the x25519 public keys in its ``authorized_clients/`` folder,
one ``NAME.auth`` file per recipient. Without a key nobody can reach the service, not
even knowing its address. Keys are made here, on the server: the public half goes into
the folder, the private half is printed once, in the form of a ``ClientOnionAuthDir``
``.auth_private`` file, to hand to the recipient over a safe channel. Tor reads the
folder when it starts or reloads.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

import click
from nacl.public import PrivateKey

from parrhesia.private_files import open_private

__all__ = ["onion", "tor_base32"]

AUTHORIZED_CLIENTS = "authorized_clients"
_CLIENT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ONION_ADDRESS = re.compile(r"[a-z2-7]{56}\.onion")
_RELOAD = "Reload tor for this to take effect: systemctl reload tor"

service_dir_option = click.option(
    "--dir",
    "service_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The onion service's HiddenServiceDir (e.g. /var/lib/tor/parrhesia-desk).",
)
name_option = click.option("--name", required=True, help="The client's name: letters, digits, - and _.")


def tor_base32(key: bytes) -> str:
    """A key as tor writes it in client-auth files: RFC 4648 base32, upper case, no padding."""
    return base64.b32encode(key).decode("ascii").rstrip("=")


@click.group()
def onion() -> None:
    """Manage the onion services of deploy/torrc."""


@onion.group("client-auth")
def client_auth() -> None:
    """The clients allowed to reach an onion service (the desk's)."""


@client_auth.command("add")
@service_dir_option
@name_option
def add(service_dir: Path, name: str) -> None:
    """Make a client key; print the line for the recipient's ClientOnionAuthDir.

    Only that line goes to standard output, so it can be redirected into a file
    (``> NAME.auth_private``); the private key is not kept on the server.
    """
    auth_file = _auth_file(service_dir, name)
    address = _onion_address(service_dir)
    folder = auth_file.parent
    if not folder.exists():
        folder.mkdir(mode=0o700)
        _give_to_tor(folder, service_dir)
    key = PrivateKey.generate()
    try:
        handle = open_private(auth_file)
    except FileExistsError:
        raise click.ClickException(f"{auth_file} already exists: choose another name, or remove it first.") from None
    with handle:
        handle.write(f"descriptor:x25519:{tor_base32(bytes(key.public_key))}\n".encode("ascii"))
    _give_to_tor(auth_file, service_dir)
    click.echo(f"Authorised {name!r}: {auth_file}", err=True)
    click.echo(
        "Give the recipient the next line, over a safe channel, as a file NAME.auth_private in their "
        "Tor Browser's or tor's ClientOnionAuthDir; it is shown only once.",
        err=True,
    )
    click.echo(f"{address.removesuffix('.onion')}:descriptor:x25519:{tor_base32(bytes(key))}")
    click.echo(_RELOAD, err=True)


@client_auth.command("remove")
@service_dir_option
@name_option
def remove(service_dir: Path, name: str) -> None:
    """Revoke a client: delete its key from the service's authorized_clients folder."""
    auth_file = _auth_file(service_dir, name)
    try:
        auth_file.unlink()
    except FileNotFoundError:
        raise click.ClickException(f"No client named {name!r} in {auth_file.parent}.") from None
    click.echo(f"Revoked {name!r}.")
    click.echo(_RELOAD)


@client_auth.command("list")
@service_dir_option
def list_clients(service_dir: Path) -> None:
    """The names of the authorised clients."""
    folder = service_dir / AUTHORIZED_CLIENTS
    names = sorted(path.stem for path in folder.glob("*.auth")) if folder.is_dir() else []
    for name in names:
        click.echo(name)
    if not names:
        click.echo("No authorised clients: anyone who knows the address can reach this service.", err=True)


def _auth_file(service_dir: Path, name: str) -> Path:
    if not _CLIENT_NAME.fullmatch(name):
        raise click.BadParameter("use 1 to 64 letters, digits, - and _", param_hint="--name")
    return service_dir / AUTHORIZED_CLIENTS / f"{name}.auth"


def _onion_address(service_dir: Path) -> str:
    hostname = service_dir / "hostname"
    try:
        address = hostname.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        raise click.ClickException(
            f"Cannot read {hostname}: is --dir a HiddenServiceDir, and has tor started once with it?"
        ) from None
    if not _ONION_ADDRESS.fullmatch(address):
        raise click.ClickException(f"{hostname} does not hold a v3 onion address.")
    return address


def _give_to_tor(path: Path, service_dir: Path) -> None:
    """Run as root, a new file or folder goes to the service folder's owner (tor's user,
    debian-tor on Debian): tor cannot read a key it does not own in a 0700 folder."""
    if os.geteuid() == 0:
        owner = service_dir.stat()
        os.chown(path, owner.st_uid, owner.st_gid)
