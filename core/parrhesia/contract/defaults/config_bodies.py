"""Bodies, relations and the standing route declared in ``parrhesia.toml``.

An instance without jurisdiction plugins still works: its ``[[bodies]]`` form the
directory (with optional ``[[relations]]``), and ``instance.route`` lists bodies that
receive every report unless they are in conflict.
"""

from __future__ import annotations

from parrhesia.config import InstanceConfig
from parrhesia.contract.directory import Body, DirectoryContribution, DirectoryError, Relation, _body_kind
from parrhesia.contract.routing_request import RoutingRequest
from parrhesia.plugin import hookimpl

INSTANCE_JURISDICTION = "instance"


@hookimpl(trylast=True)
def parrhesia_directory(config: InstanceConfig) -> DirectoryContribution:
    bodies = tuple(
        Body(
            id=b.id,
            name=b.name,
            # The id is checked when the configuration is read: only the kind can be wrong here.
            kind=_body_kind(b.id, b.kind),
            jurisdiction=b.jurisdiction or INSTANCE_JURISDICTION,
            parent=b.parent,
        )
        for b in config.bodies
    )
    relations = []
    for entry in config.raw.get("relations", []):
        if not isinstance(entry, dict) or not {"source", "kind", "target"} <= entry.keys():
            raise DirectoryError("every [[relations]] entry needs a source, a kind and a target")
        relations.append(Relation(str(entry["source"]), entry["kind"], str(entry["target"])))
    return DirectoryContribution(bodies=bodies, relations=tuple(relations))


@hookimpl(trylast=True)
def parrhesia_route(request: RoutingRequest, config: InstanceConfig) -> list[str]:
    return list(config.route)
