"""A test plugin whose clocks hook lacks @hookimpl: pluggy alone would ignore it (and its
deadlines), so start-up must refuse it by name."""

from parrhesia.plugin import Clock, hookimpl


@hookimpl
def parrhesia_route(request, directory):  # type: ignore[no-untyped-def]
    return []


def parrhesia_clocks(request, directory, route):  # type: ignore[no-untyped-def]  # deliberately unmarked
    return [Clock(id="lost-deadline", label="A deadline nobody would see", legal_source="Test Act s.1", days=10)]
