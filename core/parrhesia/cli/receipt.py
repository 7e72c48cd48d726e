"""``parrhesia receipt verify``: check a source's receipt offline, on any machine."""

from __future__ import annotations

from pathlib import Path

import click

from parrhesia.crypto.receipt import ReceiptError, key_matches, verify_receipt

__all__ = ["receipt"]

_MAX_RECEIPT_BYTES = 1024 * 1024  # a receipt is a few hundred bytes; refuse to read a disk image


@click.group()
def receipt() -> None:
    """Check the signed receipts that sources get when they report."""


@receipt.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--key", "expected", metavar="KEY",
              help="The instance's published receipt key (prh1vk_…) or its fingerprint: "
                   "the receipt must be signed by it.")
def verify(file: Path, expected: str | None) -> None:
    """Check FILE's signature and print what it states; exit 1 if it was changed.

    Needs no instance and no network. Without --key it proves only that the receipt is
    intact and signed by the key it names: compare that key's fingerprint with the one
    the instance publishes (its home page, its keys/ folder).
    """
    with file.open("rb") as handle:
        data = handle.read(_MAX_RECEIPT_BYTES + 1)
    try:
        if len(data) > _MAX_RECEIPT_BYTES:
            raise ReceiptError("this is not a receipt (far too large)")
        checked = verify_receipt(data)
        matches = None if expected is None else key_matches(checked, expected)
    except (ReceiptError, ValueError) as problem:
        click.echo(f"NOT VALID: {problem}", err=True)
        raise SystemExit(1) from None
    if matches is False:
        click.echo(f"NOT VALID: the receipt is signed by another key ({checked.fingerprint}) than the one given",
                   err=True)
        raise SystemExit(1)
    facts = checked.facts
    click.echo("Signature: good (the receipt is exactly as the instance signed it)")
    click.echo(f"Signed by: {checked.key_text}")
    click.echo(f"Key fingerprint: {checked.fingerprint}"
               + (" (the key given)" if matches else " (compare it with the one the instance publishes)"))
    click.echo(f"Instance: {facts.instance}")
    click.echo(f"Report reference: {facts.reference}")
    click.echo(f"Submitted on: {facts.submitted_on.isoformat()}")
    click.echo(f"Receipt issued on: {facts.issued_on.isoformat()}")
    click.echo("Held by:" + ("" if facts.bodies else " no body"))
    for body in facts.bodies:
        click.echo(f"  {body.name} ({body.id})")
    click.echo("Deadlines:" + ("" if facts.deadlines else " none"))
    for deadline in facts.deadlines:
        who = f", {deadline.body_id}" if deadline.body_id else ""
        click.echo(f"  {deadline.due_on.isoformat()}  {deadline.label} ({deadline.state}{who})")
