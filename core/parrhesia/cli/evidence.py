"""Evidence packages: ``parrhesia desk export`` writes one on the recipient's machine,
``parrhesia evidence verify`` checks one anywhere (docs/format.md, "Evidence packages")."""

from __future__ import annotations

from pathlib import Path

import click

from parrhesia.cli.desk import _call, _client, _progress, _unlock, machine_options, report_option
from parrhesia.crypto import fingerprint
from parrhesia.crypto.evidence import encode_verify_key
from parrhesia.recipient.client import KnownKeys
from parrhesia.recipient.evidence import Exclusion, excluded_line
from parrhesia.recipient.evidence import export as export_package
from parrhesia.recipient.evidence import verify as verify_package

__all__ = ["export", "evidence"]


@click.command()
@machine_options
@report_option
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="The new folder to write the package into (it must not exist yet).")
@click.option("--omit", "omitted", multiple=True, metavar="NAME",
              help="Leave out this attachment (its file name as `desk pull` writes it, or its part id); repeatable.")
@click.option("--redact", "redacted", multiple=True, metavar="NAME=FILE",
              help="Replace this attachment with the redacted copy FILE; repeatable.")
@click.option("--reason", "reasons", multiple=True, metavar="NAME=TEXT",
              help="Why NAME is left out or redacted (recorded in the package); one for each --omit and --redact.")
@click.option("--exporter-name", help="Your name, recorded in the package (otherwise only your recipient id and body).")
def export(
    server: str, token: str, key_file: Path, passphrase_file: Path | None, known_keys_file: Path, report_id: str,
    out: Path, omitted: tuple[str, ...], redacted: tuple[str, ...], reasons: tuple[str, ...],
    exporter_name: str | None,
) -> None:
    """Write a signed evidence package of a report into OUT: its decrypted content, the hashes of
    every file and of the ciphertext it came from, its audit entries, routing and clocks.

    Whatever --omit or --redact leaves out is recorded in the package with its reason, never
    silently. A part that cannot be downloaded or decrypted is recorded as unreadable, and the
    command then exits with 1.
    """
    exclusions = _exclusions(omitted, redacted, reasons)
    key = _unlock(key_file, passphrase_file)
    known = _call(lambda: KnownKeys(known_keys_file))
    with _progress() as progress:
        result = _call(lambda: export_package(_client(server, token), key, report_id, out, exclusions=exclusions,
                                              known=known, exporter_name=exporter_name, progress=progress))
    for name in result.files:
        click.echo(f"included {name}")
    for part in result.excluded:
        click.echo(excluded_line(part))
    for part_id, why in result.unreadable:
        click.echo(f"part {part_id}: unreadable, recorded as such: {why}", err=True)
    click.echo(f"Evidence package of report {report_id} written to {out}.")
    click.echo(f"Signed with your evidence key {encode_verify_key(result.verify_key)}")
    click.echo(f"  (fingerprint {fingerprint(result.verify_key)}). Give it to whoever checks the package, over "
               "another channel than the package itself.")
    click.echo(f"Check the package with: parrhesia evidence verify {out} --key {encode_verify_key(result.verify_key)}")
    if not result.vouched:
        click.echo("The instance did not sign the report's audit entries and chain head (its signing key cannot be "
                   "read or made), so the package will not verify. Tell your instance's operator (`parrhesia doctor`), "
                   "and export again once it is repaired.", err=True)
    if result.unreadable:
        raise click.ClickException(
            f"{len(result.unreadable)} part(s) could not be downloaded or decrypted; the package says so. "
            "Tell your instance's operator, and export again once they are repaired."
        )
    if not result.vouched:
        raise click.ClickException("The package was written, but it does not prove its audit entries (see above).")


def _exclusions(omitted: tuple[str, ...], redacted: tuple[str, ...], reasons: tuple[str, ...]) -> tuple[Exclusion, ...]:
    why: dict[str, str] = {}
    for text in reasons:
        name, sep, reason = text.partition("=")
        if not sep or not name or not reason.strip():
            raise click.BadParameter(f"{text!r} is not NAME=TEXT.", param_hint="--reason")
        why[name] = reason
    copies: list[tuple[str, Path]] = []
    for text in redacted:
        name, sep, file = text.rpartition("=")
        if not sep or not name or not file:
            raise click.BadParameter(f"{text!r} is not NAME=FILE.", param_hint="--redact")
        if not Path(file).is_file():
            raise click.BadParameter(f"the redacted copy {file} is not a file.", param_hint="--redact")
        copies.append((name, Path(file)))
    names = [*omitted, *(name for name, _ in copies)]
    if missing := [name for name in names if name not in why]:
        raise click.UsageError(f"Give a reason for each part left out or redacted: --reason '{missing[0]}=…'.")
    if unused := sorted(set(why) - set(names)):
        raise click.UsageError(f"--reason names {unused[0]!r}, which is neither omitted nor redacted.")
    return (*(Exclusion(name, why[name]) for name in omitted),
            *(Exclusion(name, why[name], replacement=file) for name, file in copies))


@click.group()
def evidence() -> None:
    """Evidence packages: check one (made with `parrhesia desk export`)."""


@evidence.command("verify")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option("--key", "verify_key", metavar="VERIFYKEY",
              help="The exporter's evidence key (prh1vk_…), as they gave it to you; without it, only the key "
                   "the package names is checked.")
@click.option("--instance-key", metavar="KEY", help="The instance's published signing key (prh1vk_…) or its "
              "fingerprint; without it, the key the package names is shown for you to compare.")
def verify(folder: Path, verify_key: str | None, instance_key: str | None) -> None:
    """Check an evidence package (its folder, or the ZIP the web desk saves): every file's hash,
    the signature, the audit entries' chain and the instance's signature over them.

    Exits with 1 and says what changed if any file was changed, added or removed.
    """
    found = verify_package(folder, verify_key=verify_key, instance_key=instance_key)
    if found.verify_key is not None:
        key_text = encode_verify_key(found.verify_key)
        checked = "the key you gave" if verify_key else "the key the package names (give --key to pin it)"
        click.echo(f"Signed by {key_text} (fingerprint {fingerprint(found.verify_key)}): {checked}.")
    if found.report_id:
        who = found.exporter.get("name") or found.exporter.get("recipient", "?")
        body = (found.exporter.get("body") or {}).get("id", "?")
        click.echo(f"Report {found.report_id}, exported by {who} of {body} at {found.exported_at}.")
        click.echo(f"{found.files} file(s), {found.audit_entries} audit entries; chain head "
                   f"{(found.head or {}).get('seq', '?')} {(found.head or {}).get('hash', '?')}.")
    if found.instance_key is not None:
        click.echo(f"Audit entries and chain head vouched for by the instance key {encode_verify_key(found.instance_key)} "
                   f"at {found.vouched_at}.")
    for part in found.excluded:
        click.echo(excluded_line(part))
    for note in found.notes:
        click.echo(f"Note: {note}")
    if not found.ok:
        for problem in found.problems:
            click.echo(f"FAILED: {problem}", err=True)
        raise click.ClickException(f"The package at {folder} does not verify: {len(found.problems)} problem(s), listed above.")
    click.echo("The package verifies: no file was changed, added or removed since it was signed.")
