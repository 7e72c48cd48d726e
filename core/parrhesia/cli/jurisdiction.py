"""``parrhesia plugins``, ``directory`` and ``route``: inspecting an instance's law."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli.common import instance_option, load_instance
from parrhesia.config import ConfigError, load_config
from parrhesia.contract.intake import InvalidAnswer, clean_routing_answers
from parrhesia.contract.manager import describe_plugins
from parrhesia.domain.host import PluginHost, load_host
from parrhesia.domain.routing import RoutingError, RoutingRequest
from parrhesia.storage.models import PluginError

__all__ = ["plugins", "directory", "route"]


def _host(instance_dir: Path) -> PluginHost:
    try:
        return load_host(load_config(instance_dir))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def plugins() -> None:
    """Installed and enabled plugins, and their run-time failures."""


@plugins.command("list")
@instance_option
def list_plugins(instance_dir: Path) -> None:
    """Each plugin's name, version, hooks, and whether this instance enables it."""
    try:
        config = load_config(instance_dir)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    for info in describe_plugins(None, config.plugins):
        state = "enabled" if info.enabled else "disabled"
        click.echo(f"{info.name}\t{info.version}\t{state}\t{', '.join(info.hooks)}")
    missing = set(config.plugins) - {i.name for i in describe_plugins(None, config.plugins)}
    for name in sorted(missing):
        click.echo(f"{name}\t-\tenabled but NOT INSTALLED\t-")


@plugins.command("errors")
@instance_option
def plugin_errors(instance_dir: Path) -> None:
    """Plugin failures recorded at run time (no content is ever recorded)."""
    instance = load_instance(instance_dir)
    with Session(instance.engine) as db:
        rows = list(db.scalars(select(PluginError).order_by(PluginError.id)))
    for row in rows:
        click.echo(f"{row.occurred_on}\t{row.plugin}\t{row.hook}\t{row.error}\t{row.report_id or '-'}")
    click.echo(f"{len(rows)} plugin failure(s)")
    instance.dispose()


@click.command()
@instance_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def directory(instance_dir: Path, as_json: bool) -> None:
    """The merged directory: bodies and their relations."""
    host = _host(instance_dir)
    bodies = [
        {"id": b.id, "name": b.name, "kind": b.kind.value, "jurisdiction": b.jurisdiction, "parent": b.parent}
        for b in sorted(host.directory.bodies.values(), key=lambda b: (b.jurisdiction, b.id))
    ]
    relations = [{"source": r.source, "kind": r.kind.value, "target": r.target} for r in host.directory.relations]
    if as_json:
        click.echo(json.dumps({"bodies": bodies, "relations": relations}, indent=2, ensure_ascii=False))
        return
    by_parent: dict[str | None, list[dict[str, str | None]]] = defaultdict(list)
    for body in bodies:
        by_parent[body["parent"]].append(body)

    def show(parent: str | None, depth: int) -> None:
        for body in by_parent.get(parent, []):
            click.echo(f"{'  ' * depth}{body['id']}  {body['name']}  [{body['kind']}, {body['jurisdiction']}]")
            show(body["id"], depth + 1)

    show(None, 0)
    if relations:
        click.echo("\nRelations:")
        for r in relations:
            click.echo(f"  {r['source']} {r['kind']} {r['target']}")


@click.command()
@instance_option
@click.option("--field", "fields", multiple=True, metavar="NAME=VALUE",
              help="A routing answer, e.g. --field implicated=example-interior (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def route(instance_dir: Path, fields: tuple[str, ...], as_json: bool) -> None:
    """Dry-run routing for the given routing fields: route, excluded, escalation."""
    host = _host(instance_dir)
    answers: dict[str, list[str]] = defaultdict(list)
    for item in fields:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint="--field")
        answers[name].append(value)
    known = {f.name for f in host.routing_fields}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise click.BadParameter(f"not routing fields: {unknown} (known: {sorted(known)})", param_hint="--field")
    try:
        cleaned = clean_routing_answers(host.routing_fields, answers)
        decision = host.decide(RoutingRequest.from_fields(cleaned))
    except InvalidAnswer as exc:
        raise click.ClickException(f"invalid answer: {exc}") from None
    except RoutingError as exc:
        raise click.ClickException(str(exc)) from None
    data = decision.as_dict(host.directory)
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    click.echo("route:")
    for body in data["route"]:
        click.echo(f"  {body['id']}  {body['name']}")
    click.echo("excluded:")
    for body in data["excluded"]:
        click.echo(f"  {body['id']}  {body['name']}: {body['reason']}")
    click.echo("escalation:")
    for body in data["escalation"]:
        click.echo(f"  {body['rank']:>3}  {body['id']}  {body['name']}")
    if data["clocks"]:
        click.echo("clocks:")
        for clock in data["clocks"]:
            click.echo(f"  {clock['id']}: {clock['label']}, {_duration(clock)} ({clock['legal_source']})")
    if decision.fallback:
        click.echo("(fallback: the recipient of last resort was added)")
    for failure in data["plugin_failures"]:
        click.echo(f"plugin failure: {failure['plugin']} in {failure['hook']}: {failure['error']}", err=True)


def _duration(clock: dict[str, object]) -> str:
    """"7 days", "3 months (extendable to 6)", "24 hours"…, as the clock counts."""
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for unit, n in
             (("month", clock.get("months")), ("day", clock.get("days")), ("hour", clock.get("hours")))
             if isinstance(n, int) and n]
    extended = clock.get("extendable_to_months")
    return " and ".join(parts) + (f" (extendable to {extended} months)" if extended else "")
