"""``parrhesia desk``: a recipient's command-line desk, run on their own machine.

It does what the web desk does (pull and decrypt, reply, acknowledge, status, notes,
recusal, transfer, protection requests) through the JSON API, and the body-key steps
only a member's own machine can take (create the body key, vouch for a colleague,
rotate the key); everything that needs a key is sealed or opened here, never on the
server. Colleagues are vouched for and transfers sealed only to keys this machine
trusts (``desk keys``): unlike the web desk, whose code comes from the server, this
command does not have to believe the server about whose keys are whose.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from nacl.public import PrivateKey
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from parrhesia.cli.common import read_passphrase
from parrhesia.crypto import CryptoFormatError, KeyFileError, unwrap_private_key
from parrhesia.domain.reports import INTAKE_CHANNELS
from parrhesia.private_files import write_private_file
from parrhesia.recipient.anchor import AuditHeads, default_audit_heads_path, look
from parrhesia.recipient.client import (
    DeskClient,
    DeskError,
    KnownKeys,
    create_body_key,
    default_known_keys_path,
    open_keyring,
    rotate_body_key,
)
from parrhesia.recipient.client import (
    intake as file_intake,
)
from parrhesia.recipient.client import (
    note as send_note,
)
from parrhesia.recipient.client import (
    pull as pull_reports,
)
from parrhesia.recipient.client import (
    reply as send_reply,
)
from parrhesia.recipient.client import (
    transfer as send_transfer,
)
from parrhesia.recipient.client import (
    vouch as send_vouch,
)

__all__ = ["desk"]

F = TypeVar("F", bound=Callable[..., Any])

# Parts smaller than this download without a progress bar.
PROGRESS_THRESHOLD = 4 * 1024 * 1024

server_option = click.option("--server", required=True, help="The instance's address, e.g. http://xyz.onion")
token_option = click.option("--token", required=True, envvar="PARRHESIA_TOKEN", help="Your API token.")
report_option = click.option("--report", "report_id", required=True, help="The report id (its folder name).")
key_option = click.option(
    "--key", "key_file", required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Your private key file (passphrase-protected).",
)
passphrase_option = click.option(
    "--passphrase-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Read the key's passphrase from this file's first line (prompted for otherwise).",
)

known_keys_option = click.option(
    "--known-keys", "known_keys_file", type=click.Path(dir_okay=False, path_type=Path),
    envvar="PARRHESIA_KNOWN_KEYS", default=default_known_keys_path, show_default="~/.config/parrhesia/known-keys.json",
    help="The file of recipients' key fingerprints this machine trusts (or $PARRHESIA_KNOWN_KEYS).",
)
audit_heads_option = click.option(
    "--audit-heads", "audit_heads_file", type=click.Path(dir_okay=False, path_type=Path),
    envvar="PARRHESIA_AUDIT_HEADS", default=default_audit_heads_path,
    show_default="~/.config/parrhesia/audit-heads.json",
    help="The file of the audit heads this machine saw last, per server (or $PARRHESIA_AUDIT_HEADS).",
)
trust_option = click.option(
    "--trust", "fingerprints", multiple=True, metavar="FINGERPRINT",
    help="Trust the listed key with this fingerprint, once its holder has confirmed it (repeatable).",
)


def machine_options(command: F) -> F:
    """The options of a command that opens the recipient's key on this machine: the
    server, the token, the key file and its passphrase, the trusted keys file."""
    for option in reversed((server_option, token_option, key_option, passphrase_option, known_keys_option)):
        command = option(command)
    return command


@click.group()
def desk() -> None:
    """Pull, decrypt and answer reports on your own machine."""


@desk.command()
@server_option
@token_option
@key_option
@passphrase_option
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
@known_keys_option
@audit_heads_option
def pull(
    server: str, token: str, key_file: Path, passphrase_file: Path | None, out: Path, known_keys_file: Path,
    audit_heads_file: Path,
) -> None:
    """Download and decrypt new reports (and protection requests) into OUT, one folder per report id.

    A part that cannot be downloaded or decrypted is named (report and part) and left
    for the next pull; everything else is pulled, and the command then exits with 1.
    The audit log's head is then compared with the one this machine saw last (as
    ``desk audit`` does): if the log does not extend it, the command warns and exits with 1.
    """
    key = _unlock(key_file, passphrase_file)
    known = _call(lambda: KnownKeys(known_keys_file))
    heads = _call(lambda: AuditHeads(audit_heads_file))
    with _progress() as progress:
        result = _call(lambda: pull_reports(_client(server, token), key, out, progress=progress, known=known))
    for path in result.files:
        click.echo(f"decrypted {path}")
    for path in result.protection:
        click.echo(f"protection request {path}")
    for report_id in result.unreadable:
        click.echo(f"report {report_id}: not sealed to your body's key", err=True)
    for note_id in result.unreadable_notes:
        click.echo(f"note {note_id}: sealed to a generation of your body's key you do not hold", err=True)
    for report_id, part_id, why in result.damaged:
        click.echo(f"report {report_id} part {part_id}: not pulled: {why}", err=True)
    click.echo(f"{result.reports} report(s), {len(result.files)} new file(s), "
               f"{len(result.protection)} protection file(s) in {out}")
    anchored = _call(lambda: look(_client(server, token), heads))
    click.echo(anchored.summary, err=anchored.warning is not None)
    if anchored.warning is not None:
        raise click.ClickException(_AUDIT_WARNING)
    if result.damaged:
        reports = len({report_id for report_id, _, _ in result.damaged})
        raise click.ClickException(
            f"{len(result.damaged)} part(s) of {reports} report(s) could not be downloaded or decrypted (listed above); "
            "everything else was pulled. Pull again later to retry them, and tell your instance's operator "
            "if they keep failing."
        )


_AUDIT_WARNING = (
    "The instance's audit log does not extend the one this machine saw last (above). Keep the file of audit heads "
    "(it holds the signed statements), tell your body's administrator and the instance's operator, and ask why. "
    "Once it is explained, `parrhesia desk audit --accept` remembers the log as it is now."
)


@desk.command("audit")
@server_option
@token_option
@audit_heads_option
@click.option("--accept", is_flag=True,
              help="Remember the head as it is now, after a warning was explained (e.g. a restored backup).")
def audit_head(server: str, token: str, audit_heads_file: Path, accept: bool) -> None:
    """Check that the instance's audit log extends the head this machine saw last.

    The head is remembered on this machine, per server; the instance signs what it
    answers, and every answer that does not extend the head is kept as proof. Exits
    with 1 on a warning (docs/format.md §13).
    """
    heads = _call(lambda: AuditHeads(audit_heads_file))
    anchored = _call(lambda: look(_client(server, token), heads, accept=accept))
    click.echo(anchored.summary)
    if anchored.warning is not None:
        raise click.ClickException(_AUDIT_WARNING)


@desk.command()
@server_option
@token_option
@report_option
@click.option("--message", required=True, help="The reply; the source reads it after logging in.")
@click.option("--feedback", is_flag=True, help="This reply is the feedback the law requires (meets feedback clocks).")
def reply(server: str, token: str, report_id: str, message: str, feedback: bool) -> None:
    """Seal a reply on this machine and send it."""
    if not message.strip():
        raise click.ClickException("The reply is empty.")
    sent = _call(lambda: send_reply(_client(server, token), report_id, message, feedback=feedback))
    click.echo(f"Reply {sent['id']} sent to report {report_id}.")


@desk.command("ack")
@server_option
@token_option
@report_option
def acknowledge(server: str, token: str, report_id: str) -> None:
    """Acknowledge receipt of a report (meets its acknowledgement clock)."""
    report = _call(lambda: _client(server, token).acknowledge(report_id))
    met = [c["id"] for c in report.get("clocks", []) if c.get("state") == "met" and c.get("met_by") == "acknowledge"]
    click.echo(f"Report {report_id} acknowledged (status: {report['status']}).")
    if met:
        click.echo(f"Clocks met: {', '.join(met)}")


@desk.command()
@server_option
@token_option
@report_option
@click.option("--status", required=True, help="The new status, e.g. assessing, investigating, referred, closed.")
def status(server: str, token: str, report_id: str, status: str) -> None:
    """Change a report's status."""
    report = _call(lambda: _client(server, token).set_status(report_id, status))
    click.echo(f"Report {report_id} is now {report['status']}.")


@desk.command()
@server_option
@token_option
@report_option
@click.option("--message", required=True, help="The note, for the recipients of your body only.")
@key_option
@passphrase_option
@known_keys_option
def note(
    server: str, token: str, report_id: str, message: str, key_file: Path, passphrase_file: Path | None,
    known_keys_file: Path,
) -> None:
    """Add an internal note, sealed on this machine to your body's key only."""
    if not message.strip():
        raise click.ClickException("The note is empty.")
    known = _call(lambda: KnownKeys(known_keys_file))
    key = _unlock(key_file, passphrase_file)
    sent = _call(lambda: send_note(_client(server, token), key, report_id, message, known=known))
    click.echo(f"Note {sent['id']} added to report {report_id}.")


@desk.command()
@server_option
@token_option
@report_option
@click.option("--reason", required=True, help="Why your body is in conflict (recorded with the report).")
@click.option("--outside-competence", is_flag=True, help="The report is outside your body's remit (not a conflict).")
def recuse(server: str, token: str, report_id: str, reason: str, outside_competence: bool) -> None:
    """Declare a conflict of interest: your body loses access to the report at once."""
    if not reason.strip():
        raise click.ClickException("Give a reason for the recusal.")
    result = _call(lambda: _client(server, token).recuse(report_id, reason, outside_competence=outside_competence))
    to = ", ".join(result.get("to") or []) or "the bodies still on its route"
    click.echo(f"Recused from report {report_id}; it goes to {to}. Your body no longer has access.")


@desk.command()
@server_option
@token_option
@report_option
@click.option("--clock", "clock_id", required=True, help="The clock's id (see the report's clocks).")
@click.option("--months", required=True, type=click.IntRange(min=1), help="The deadline's new length in months.")
@click.option("--reason", required=True, help="The reason that justifies the extension (recorded).")
def extend(server: str, token: str, report_id: str, clock_id: str, months: int, reason: str) -> None:
    """Extend a running clock where its law allows it."""
    report = _call(lambda: _client(server, token).extend_clock(report_id, clock_id, months, reason))
    due = next((c["due_on"] for c in report.get("clocks", []) if c.get("id") == clock_id), "?")
    click.echo(f"Clock {clock_id} of report {report_id} is now due on {due}.")


@desk.command()
@server_option
@token_option
@report_option
@click.option("--clock", "clock_id", required=True, help="The clock's id (see the report's clocks).")
@click.option("--reason", help="Why the deadline stops (required to pause, recorded).")
@click.option("--resume", is_flag=True, help="Restart the clock instead; the days of the pause are added.")
def pause(server: str, token: str, report_id: str, clock_id: str, reason: str | None, resume: bool) -> None:
    """Stop (or, with --resume, restart) a clock where its law allows it."""
    client = _client(server, token)
    if resume:
        report = _call(lambda: client.resume_clock(report_id, clock_id))
    else:
        if not (reason or "").strip():
            raise click.ClickException("Give the reason for stopping the deadline.")
        report = _call(lambda: client.pause_clock(report_id, clock_id, reason or ""))
    clock: dict[str, Any] = next((c for c in report.get("clocks", []) if c.get("id") == clock_id), {})
    click.echo(f"Clock {clock_id} of report {report_id} is {clock.get('state', '?')}, due on {clock.get('due_on', '?')}.")


@desk.command()
@server_option
@token_option
@report_option
@click.option("--to", "body_id", required=True, help="The id of the body that takes over the report.")
@click.option("--reason", required=True, help="Why the report is transferred (recorded with the report).")
@key_option
@passphrase_option
@known_keys_option
@trust_option
def transfer(
    server: str, token: str, report_id: str, body_id: str, reason: str, key_file: Path, passphrase_file: Path | None,
    known_keys_file: Path, fingerprints: tuple[str, ...],
) -> None:
    """Transfer a report to another body, sealing its key here to that body's key."""
    if not reason.strip():
        raise click.ClickException("Give a reason for the transfer.")
    known = _call(lambda: KnownKeys(known_keys_file))
    key = _unlock(key_file, passphrase_file)
    _call(lambda: send_transfer(_client(server, token), key, report_id, body_id, reason, known=known,
                                trust=fingerprints))
    click.echo(f"Report {report_id} transferred to {body_id}. Your body no longer has access.")


@desk.command()
@server_option
@token_option
@click.option("--body", "body_id", help="The body whose recipients to show (yours if omitted).")
@trust_option
@known_keys_option
def keys(server: str, token: str, body_id: str | None, fingerprints: tuple[str, ...], known_keys_file: Path) -> None:
    """Show a body's recipients with their key fingerprints, and trust keys you have checked."""
    client = _call(lambda: _client(server, token))
    known = _call(lambda: KnownKeys(known_keys_file))
    body = body_id or _call(lambda: str(client.me()["body"]["id"]))
    recipients = _call(lambda: client.body_recipients(body))
    trusted_now = {key.recipient_id for key in _call(lambda: known.trust_fingerprints(client.server, recipients,
                                                                                     fingerprints))}
    click.echo(f"Recipients of {body} (fingerprints to compare with each holder over another channel):")
    for key in _call(lambda: known.listed(client.server, recipients)):
        state = "trusted now" if key.recipient_id in trusted_now else key.state.value
        click.echo(f"  {key.recipient_id:>5}  {key.fingerprint}  {state:<11}  {key.name}")
    if not recipients:
        click.echo("  (none)")


@desk.group("body-key")
def body_key() -> None:
    """Your body's key: create it, show who holds it, rotate it."""


@body_key.command("create")
@machine_options
def body_key_create(server: str, token: str, key_file: Path, passphrase_file: Path | None, known_keys_file: Path) -> None:
    """Make your body's first key on this machine (you hold it; vouch for colleagues next)."""
    key = _unlock(key_file, passphrase_file)
    known = _call(lambda: KnownKeys(known_keys_file))
    fpr = _call(lambda: create_body_key(_client(server, token), key, known))
    click.echo(f"Your body's key was created here; its fingerprint is {fpr}.")
    click.echo("Have your body confirm this fingerprint out of band (keys/README.md), then vouch for colleagues "
               "with `parrhesia desk vouch`.")


@body_key.command("show")
@machine_options
def body_key_show(server: str, token: str, key_file: Path, passphrase_file: Path | None, known_keys_file: Path) -> None:
    """Check your grant of the body key, and list who holds it and who waits for a vouch."""
    key = _unlock(key_file, passphrase_file)
    client = _client(server, token)
    known = _call(lambda: KnownKeys(known_keys_file))
    ring = _call(lambda: open_keyring(client, key, known))
    click.echo(f"Body {ring.body_id}: key generation {ring.current}, fingerprint {ring.fingerprints[ring.current]}; "
               f"you were vouched for by {ring.vouched_by} (checked).")
    for member in _call(lambda: client.body_recipients(ring.body_id)):
        state = "holds the key" if member.get("holds_body_key") else "waits for a vouch"
        click.echo(f"  {member['id']:>5}  {state:<17}  {member['name']}")


@body_key.command("rotate")
@machine_options
@trust_option
@click.option("--drop", multiple=True, type=int, metavar="RECIPIENT_ID",
              help="Leave this colleague out of the new key (repeatable); deactivated ones are left out anyway.")
def body_key_rotate(
    server: str, token: str, key_file: Path, passphrase_file: Path | None, known_keys_file: Path,
    fingerprints: tuple[str, ...], drop: tuple[int, ...],
) -> None:
    """Make a new generation of your body's key for the colleagues who stay."""
    key = _unlock(key_file, passphrase_file)
    known = _call(lambda: KnownKeys(known_keys_file))
    fpr = _call(lambda: rotate_body_key(_client(server, token), key, known=known, trust=fingerprints, drop=drop))
    click.echo(f"Your body's key was rotated; the new fingerprint is {fpr}. Reports sealed from now on reach only "
               "the colleagues who hold it.")


@desk.command()
@machine_options
@trust_option
@click.option("--recipient", "recipient_id", required=True, type=int, help="The colleague's recipient id (`desk keys`).")
def vouch(
    server: str, token: str, key_file: Path, passphrase_file: Path | None, known_keys_file: Path,
    fingerprints: tuple[str, ...], recipient_id: int,
) -> None:
    """Hand your body's key to a colleague, once you have confirmed their key's fingerprint."""
    key = _unlock(key_file, passphrase_file)
    known = _call(lambda: KnownKeys(known_keys_file))
    _call(lambda: send_vouch(_client(server, token), key, recipient_id, known=known, trust=fingerprints))
    click.echo(f"You vouched for recipient {recipient_id}: they can now read your body's reports, past and future.")


@desk.command()
@machine_options
@trust_option
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE",
              help="A routing answer the person gave, e.g. implicated=BODY (repeatable; as the source form asks).")
@click.option("--channel", type=click.Choice(INTAKE_CHANNELS), default="in-person", show_default=True,
              help="How the report was taken.")
@click.option("--message", help="What the person reports (sealed on this machine).")
@click.option("--message-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read what the person reports from this file instead.")
@click.option("--attach", "attachments", multiple=True, type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A document the person hands over (repeatable; sealed on this machine).")
@click.option("--slip", required=True, metavar="FILE",
              help="Write the person's codename slip to this new file (readable by you only: print it, then delete "
                   "it), or - to send it to standard output (e.g. straight to a printer: | lp).")
@click.option("--name-officer", is_flag=True,
              help="The person agreed that you are named as the officer who took the report (recorded in the audit log).")
@click.option("--yes", is_flag=True, help="File without asking once the route is shown.")
def intake(
    server: str, token: str, key_file: Path, passphrase_file: Path | None, known_keys_file: Path,
    fingerprints: tuple[str, ...], fields: tuple[str, ...], channel: str, message: str | None,
    message_file: Path | None, attachments: tuple[Path, ...], slip: str, name_officer: bool, yes: bool,
) -> None:
    """File a report for a person present or on the telephone, sealed on this machine.

    The person's routing answers are routed by the server as a source's are, and the
    route is shown before anything is sent: if your own body is excluded, you are told
    where the report goes and you will not be able to read it. The person gets a
    codename on a slip and continues online like any source; this machine keeps no copy
    of the codename, the report or its key.
    """
    to_stderr = slip == "-"  # the slip alone goes to standard output
    text = message_file.read_text(encoding="utf-8") if message_file is not None else (message or "")
    files = [(path.name, path.read_bytes()) for path in attachments]
    if not text.strip() and not files:
        raise click.ClickException("Give what the person reports (--message or --message-file) or a document (--attach).")
    slip_path = None if to_stderr else Path(slip)
    if slip_path is not None and slip_path.exists():
        raise click.ClickException(f"{slip_path} exists already: the slip is written to a new file only.")
    known = _call(lambda: KnownKeys(known_keys_file))
    client = _client(server, token)
    route = _call(lambda: client.intake_route(_routing_answers(fields)))
    _show_route(route, err=to_stderr)
    if not yes and not click.confirm("Has the person been told who will read the report? File it now?", err=to_stderr):
        raise click.ClickException("Nothing was sent.")
    key = _unlock(key_file, passphrase_file)
    filed = _call(lambda: file_intake(client, key, route, channel=channel, message=text, files=files, known=known,
                                      trust=fingerprints, name_officer=name_officer))
    slip_text = _slip(filed.codename, route, client.server).encode("utf-8")
    if slip_path is None:
        click.echo(slip_text.decode("utf-8"), nl=False)
    else:
        try:
            write_private_file(slip_path, slip_text)
        except OSError as problem:
            raise click.ClickException(f"The report {filed.report_id} was filed, but the slip could not be written "
                                       f"({problem}); it cannot be made again: file the report anew.") from None
    click.echo(f"Report {filed.report_id} filed ({channel}); it goes to {', '.join(filed.route)}.", err=to_stderr)
    if not filed.your_body_receives:
        click.echo("Your body does not receive it: neither you nor this machine can read it.", err=to_stderr)
    if slip_path is not None:
        click.echo(f"The codename slip is in {slip_path}: print it for the person, then delete the file.", err=to_stderr)


def _routing_answers(fields: tuple[str, ...]) -> dict[str, list[str]]:
    answers: dict[str, list[str]] = {}
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--field")
        answers.setdefault(name.strip(), []).append(value.strip())
    return answers


def _show_route(route: dict[str, Any], *, err: bool) -> None:
    """What the person must be told before the report is filed (as the source's review page shows it)."""
    click.echo("The report will be read by:", err=err)
    for body in route["route"]:
        click.echo(f"  {body['name']} ({body['id']})", err=err)
    for step in route["escalation"]:
        click.echo(f"  may receive it on escalation: {step['name']} ({step['id']})", err=err)
    for body in route["excluded"]:
        click.echo(f"  never receives it: {body['name']} ({body['id']}): {body['reason']}", err=err)
    for body in route["waiting"]:
        click.echo(f"  cannot read reports here yet: {body['name']} ({body['id']})", err=err)
    for clock in route["clocks"]:
        click.echo(f"  deadline: {clock['label']} ({clock['legal_source']})", err=err)
    if route.get("substitute_reason"):
        click.echo(f"  {route['substitute_reason']}", err=err)
    for body_key in route["body_keys"]:
        click.echo(f"  key of {body_key['body']} sealed to: {body_key['fingerprint']}", err=err)
    if not route["your_body_receives"]:
        click.echo("Your own body does not receive this report: once filed, you cannot read it.", err=err)


def _slip(codename: str, route: dict[str, Any], server: str) -> str:
    """The person's slip: their codename, where to continue, and how to keep it."""
    hosts = route["instance"]["source_hosts"]
    addresses = [f"http://{host}" for host in hosts] if hosts else [server]
    received = ", ".join(body["name"] for body in route["route"])
    return "\n".join([
        f"{route['instance']['name']}: your report of {route['day']}",
        "",
        "Your codename:",
        "",
        f"    {codename}",
        "",
        "It is the only way back to your report, and anyone who has it can read your report.",
        "Keep this paper hidden, or learn the codename by heart and destroy the paper.",
        "The officer who took your report does not keep the codename.",
        "",
        f"Your report goes to: {received}.",
        "To read their answers, add information or send documents, open in Tor Browser:",
        *(f"    {address}" for address in addresses),
        "choose \"Log in\" and type the codename.",
        "",
    ])


@desk.group()
def protection() -> None:
    """Protection requests your body handles."""


@protection.command("list")
@server_option
@token_option
def protection_list(server: str, token: str) -> None:
    """List the protection requests sent to your body (decrypt them with `desk pull`)."""
    rows = _call(lambda: _client(server, token).protection_requests())
    for row in rows:
        identity = row.get("identity", {}).get("state", "none")
        click.echo(f"{row['id']}\t{row['report_id']}\t{row['measure']}\t{row['status']}\tidentity: {identity}")
    if not rows:
        click.echo("No protection requests for your body.")


@protection.command("status")
@server_option
@token_option
@click.option("--request", "request_id", required=True, help="The request's id (`desk protection list`).")
@click.option("--status", required=True, help="requested, in-progress, granted, refused, referred or withdrawn.")
def protection_status(server: str, token: str, request_id: str, status: str) -> None:
    """Change a protection request's status (the source sees it)."""
    row = _call(lambda: _client(server, token).protection_status(request_id, status))
    click.echo(f"Protection request {request_id} is now {row['status']}.")


T = TypeVar("T")


def _client(server: str, token: str) -> DeskClient:
    return DeskClient(server, token)


def _call(action: Callable[[], T]) -> T:
    """Run a request, turning a server or key problem into one clear error line."""
    try:
        return action()
    except DeskError as exc:
        raise click.ClickException(str(exc)) from None
    except CryptoFormatError as exc:
        raise click.ClickException(f"Cannot decrypt: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # Malformed JSON, base64 or public keys from the server: not a bug to show as a traceback.
        raise click.ClickException(f"The server's answer is not what this client expects ({type(exc).__name__}).") from None


def _unlock(key_file: Path, passphrase_file: Path | None) -> PrivateKey:
    try:
        return unwrap_private_key(key_file.read_bytes(), read_passphrase(passphrase_file))
    except KeyFileError as exc:
        raise click.ClickException(str(exc)) from None


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
