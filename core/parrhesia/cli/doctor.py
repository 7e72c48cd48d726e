"""``parrhesia doctor``: check an instance and say what to do, one line per check."""

from __future__ import annotations

from pathlib import Path

import click

from parrhesia.cli.common import instance_option
from parrhesia.ops.doctor import Status, run_checks

__all__ = ["doctor"]

_COLOURS = {Status.OK: "green", Status.WARN: "yellow", Status.FAIL: "red"}


@click.command()
@instance_option
def doctor(instance_dir: Path) -> None:
    """Check an instance: configuration, plugins, schema, secrets, blob store, disk,
    swap, core dumps, timers, readers, onion service. Exits 1 if any check FAILs."""
    failed = False
    for check in run_checks(instance_dir):
        failed |= check.status is Status.FAIL
        click.echo(click.style(check.line(), fg=_COLOURS[check.status]))
    if failed:
        raise SystemExit(1)
