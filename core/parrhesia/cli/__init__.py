"""The ``parrhesia`` command line: instance set-up, keys, recipients, demo and desk."""

from __future__ import annotations

import click

from parrhesia import __version__
from parrhesia.cli.backup import backup, restore
from parrhesia.cli.clocks import disclose, escalate, hold, tick
from parrhesia.cli.desk import desk
from parrhesia.cli.doctor import doctor
from parrhesia.cli.evidence import evidence, export
from parrhesia.cli.instance import demo, init, serve
from parrhesia.cli.jurisdiction import directory, plugins, route
from parrhesia.cli.keys import keys
from parrhesia.cli.onion import onion
from parrhesia.cli.operators import audit, notify, operators
from parrhesia.cli.plugin_new import plugin
from parrhesia.cli.receipt import receipt
from parrhesia.cli.recipients import recipients
from parrhesia.cli.reports import reports, statistics

__all__ = ["main"]


@click.group()
@click.version_option(__version__, prog_name="parrhesia")
def main() -> None:
    """Parrhesia: secure, anonymous reporting of corruption and organised crime."""


for command in (init, serve, demo, keys, recipients, desk, plugins, plugin, directory, route, operators, audit, notify, tick, escalate, hold, disclose, reports, statistics):
    main.add_command(command)
main.add_command(doctor)
desk.add_command(export)
main.add_command(evidence)
main.add_command(onion)
main.add_command(backup)
main.add_command(restore)
main.add_command(receipt)
