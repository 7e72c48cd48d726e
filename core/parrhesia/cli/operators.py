"""``parrhesia operators`` and ``parrhesia audit``: running the instance, checking its log."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli.common import instance_option, load_instance
from parrhesia.domain import audit as audit_log
from parrhesia.domain.accounts import hash_password, login_name_taken, new_totp_secret, provisioning_uri
from parrhesia.storage.models import AuditEntry, Operator

__all__ = ["operators", "audit", "notify", "read_password"]


def read_password(password_file: Path | None) -> str:
    """A desk password from a file's first line, or prompted twice; length-checked."""
    if password_file is not None:
        lines = password_file.read_text(encoding="utf-8").splitlines()
        text = lines[0] if lines else ""
    else:
        text = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        hash_password(text)  # validates the length
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return text


@click.group()
def operators() -> None:
    """Instance operators: they run the instance and can read no report."""


@operators.command("add")
@instance_option
@click.option("--login", "login_name", required=True, help="The operator's log-in name.")
@click.option("--password-file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Read the password from this file's first line instead of prompting.")
def add(instance_dir: Path, login_name: str, password_file: Path | None) -> None:
    """Create an operator; print the TOTP secret to enrol in an authenticator app."""
    instance = load_instance(instance_dir)
    password = read_password(password_file)
    secret = new_totp_secret()
    with Session(instance.engine) as db:
        if login_name_taken(db, login_name):
            raise click.ClickException(f"The log-in name {login_name!r} is taken.")
        operator = Operator(login_name=login_name, password_hash=hash_password(password), totp_secret=secret,
                            failed_logins=0, created_on=instance.config.today())
        db.add(operator)
        db.flush()
        audit_log.record(db, "operator.add", actor="cli", detail={"operator": operator.id})
        db.commit()
    click.echo(f"Operator {login_name!r} created.")
    click.echo(f"TOTP secret (enter it in an authenticator app): {secret}")
    click.echo(provisioning_uri(secret, login_name, instance.config.name))
    instance.dispose()


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


def _head_argument(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, hashed = value.partition(":")
    if not seq.isascii() or not seq.isdigit() or int(seq) < 1 or len(hashed) != 64 or not all(
        c in "0123456789abcdef" for c in hashed
    ):
        raise click.BadParameter("give it as SEQ:HASH, e.g. 41:3f2a… (the 64 hex digits `audit verify` printed)")
    return int(seq), hashed


@audit.command("verify")
@instance_option
@click.option("--head", "kept", callback=_head_argument, metavar="SEQ:HASH",
              help="A head printed by an earlier check and kept elsewhere: the log must still hold that entry, "
                   "with that hash.")
def verify(instance_dir: Path, kept: tuple[int, str] | None) -> None:
    """Check the audit chain; say where it breaks (exit status 1 if it does).

    Removing the newest entries leaves an intact but shorter chain, and so does
    rewriting entries with every later hash recomputed: with --head, the check also
    fails unless the log still holds the head kept from an earlier check, unchanged.
    """
    instance = load_instance(instance_dir)
    with Session(instance.engine) as db:
        entries = list(db.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        problem = audit_log.verify(entries)
    instance.dispose()
    if problem is not None:
        raise click.ClickException(f"The audit log is broken at entry {problem.seq}: {problem.problem}.")
    if kept is not None:
        seq, hashed = kept
        if seq > len(entries):
            raise click.ClickException(f"The audit log ends at entry {len(entries)}: entry {seq}, kept as a head, "
                                       "was removed with every entry after it.")
        if entries[seq - 1].hash != hashed:
            raise click.ClickException(f"Entry {seq} has another hash than the head kept: the log was rewritten "
                                       "up to it.")
    click.echo(f"The audit log is intact: {len(entries)} entries.")
    if kept is not None:
        click.echo(f"It extends the head kept: entry {kept[0]}.")
    if entries:
        # Keep this line elsewhere (a ticket, a printout) and give it to --head next time.
        click.echo(f"Head: entry {entries[-1].seq} {entries[-1].hash}")
        click.echo(f"(next time: parrhesia audit verify --head {entries[-1].seq}:{entries[-1].hash})")


@click.command()
@instance_option
@click.option("--today", "on", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="Pretend today is this day (drills and tests).")
def notify(instance_dir: Path, on: datetime | None) -> None:
    """Send the batched notifications (run it on a schedule, e.g. hourly)."""
    from parrhesia.domain.host import load_host
    from parrhesia.domain.notifications import flush, queue_due_clocks
    from parrhesia.domain.reports import record_plugin_failures

    instance = load_instance(instance_dir)
    host = load_host(instance.config)
    day = on.date() if on else instance.config.today()
    with Session(instance.engine) as db:
        due = queue_due_clocks(db, on=day)
        result = flush(host, db)
        record_plugin_failures(db, result.failures, None, on=day)
        db.commit()
    instance.dispose()
    for failure in result.failures:
        click.echo(f"plugin {failure.plugin} failed in {failure.hook}: {failure.error}", err=True)
    click.echo(f"{result.sent} notification(s) sent, {result.undelivered} kept for later ({due} deadline warning(s) queued).")
