"""``parrhesia plugin new NAME``: the skeleton of a jurisdiction plugin, ready to test.

The files are templates in ``parrhesia/contract/skeleton/`` (package data): ``{{plugin}}``,
``{{package}}``, ``{{distribution}}``, ``{{jurisdiction}}`` and ``{{title}}`` are filled
in, ``PACKAGE`` in a path becomes the package's name and ``.tmpl`` is dropped.
"""

from __future__ import annotations

import re
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click

__all__ = ["plugin", "new_plugin", "write_skeleton"]

# An entry-point name that is also a jurisdiction id and a body-id prefix.
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_SUFFIX = ".tmpl"


def write_skeleton(name: str, out: Path) -> Path:
    """Write the plugin distribution ``parrhesia-NAME`` into ``out``; return its folder.

    Refuses a name that cannot be a plugin name, and a folder that already exists
    (nothing is overwritten).
    """
    if not _NAME.match(name) or len(name) > 32:
        raise ValueError(f"{name!r} is not a plugin name: lowercase letters and digits, words joined by '-'")
    distribution = f"parrhesia-{name}"
    target = out / distribution
    if target.exists():
        raise FileExistsError(f"{target} already exists")
    values = {
        "plugin": name,
        "package": distribution.replace("-", "_"),
        "distribution": distribution,
        "jurisdiction": name,
        "title": name.replace("-", " ").title(),
    }
    for relative, template in _templates(files("parrhesia.contract") / "skeleton", ""):
        path = target / relative.replace("PACKAGE", values["package"]).removesuffix(_SUFFIX)
        text = template.read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _templates(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            found += _templates(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(_SUFFIX):
            found.append((f"{prefix}{entry.name}", entry))
    return found


@click.group()
def plugin() -> None:
    """Writing jurisdiction plugins (``parrhesia plugins`` lists an instance's)."""


@plugin.command("new")
@click.argument("name")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="The folder to write parrhesia-NAME into.")
def new_plugin(name: str, out: Path) -> None:
    """Write a working plugin distribution, parrhesia-NAME: an entry point, a directory
    of two bodies, a route, a clock, a translations folder and tests using
    parrhesia.testing."""
    try:
        target = write_skeleton(name, out)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {target}")
    click.echo(f"next: .venv/bin/pip install -e {target} && .venv/bin/pytest {target}")
    click.echo(f'then enable it: [plugins] enabled = ["{name}"] in the instance\'s parrhesia.toml')
