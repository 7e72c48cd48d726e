"""``parrhesia desk``: a recipient's command-line desk, run on their own machine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from parrhesia.cli.common import read_passphrase
from parrhesia.crypto import CryptoFormatError, KeyFileError, unwrap_private_key
from parrhesia.desk_client import DeskClient, DeskError, pull as pull_reports, reply as send_reply

__all__ = ["desk"]

# Parts smaller than this download without a progress bar.
PROGRESS_THRESHOLD = 4 * 1024 * 1024

server_option = click.option("--server", required=True, help="The instance's address, e.g. http://xyz.onion")
token_option = click.option("--token", required=True, envvar="PARRHESIA_TOKEN", help="Your API token.")


@click.group()
def desk() -> None:
    """Pull, decrypt and answer reports on your own machine."""


@desk.command()
@server_option
@token_option
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def pull(server: str, token: str, key_file: Path, passphrase_file: Path | None, out: Path) -> None:
    """Download and decrypt new reports into OUT, one folder per report id."""
    try:
        key = unwrap_private_key(key_file.read_bytes(), read_passphrase(passphrase_file))
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    with _progress() as progress:
        try:
            result = pull_reports(DeskClient(server, token), key, out, progress=progress)
        except (DeskError, CryptoFormatError) as exc:
            raise click.ClickException(str(exc)) from None
    for path in result.files:
        click.echo(f"decrypted {path}")
    for report_id in result.unreadable:
        click.echo(f"report {report_id}: not sealed to your key (ask a colleague to share it)", err=True)
    click.echo(f"{result.reports} report(s), {len(result.files)} new file(s) in {out}")


@desk.command()
@server_option
@token_option
@click.option("--report", "report_id", required=True, help="The report id (its folder name).")
@click.option("--message", required=True, help="The reply; the source reads it after logging in.")
def reply(server: str, token: str, report_id: str, message: str) -> None:
    """Seal a reply on this machine and send it."""
    if not message.strip():
        raise click.ClickException("The reply is empty.")
    try:
        sent = send_reply(DeskClient(server, token), report_id, message)
    except DeskError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Reply {sent['id']} sent to report {report_id}.")


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    with Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), transient=True
    ) as bar:

        def start(label: str, total: int) -> Callable[[int], None]:
            if total < PROGRESS_THRESHOLD:
                return lambda _n: None
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        yield start
