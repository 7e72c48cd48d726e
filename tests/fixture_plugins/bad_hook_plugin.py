"""A test plugin implementing a hook with an argument the spec does not have."""

from parrhesia.plugin import hookimpl


@hookimpl
def parrhesia_route(request, directory, mood):  # type: ignore[no-untyped-def]
    return []
