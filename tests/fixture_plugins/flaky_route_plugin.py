"""A routing plugin that proposes the ombudsman, and fails while
``[plugins.flaky-route] broken`` is true."""

from parrhesia.plugin import hookimpl


@hookimpl
def parrhesia_route(request, directory, config):  # type: ignore[no-untyped-def]
    if config.raw.get("plugins", {}).get("flaky-route", {}).get("broken"):
        raise RuntimeError("the routing table is unreachable")
    return ["ombudsman"]
