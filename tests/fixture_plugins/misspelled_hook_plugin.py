"""A test plugin with a hook name that is not a hook (a typo of parrhesia_clocks)."""

from parrhesia.plugin import hookimpl


@hookimpl
def parrhesia_clock(request, directory, route):  # type: ignore[no-untyped-def]
    return []
