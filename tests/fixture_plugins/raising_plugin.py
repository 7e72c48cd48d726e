"""A test plugin that fails in every run-time hook (the message carries a canary)."""

from parrhesia.plugin import hookimpl

CANARY = "plugin-error-canary-7f3a"


@hookimpl
def parrhesia_route(request, directory):  # type: ignore[no-untyped-def]
    raise RuntimeError(f"routing exploded {CANARY}")


@hookimpl
def parrhesia_clocks(request):  # type: ignore[no-untyped-def]
    raise KeyError(CANARY)


@hookimpl
def parrhesia_event(event):  # type: ignore[no-untyped-def]
    raise RuntimeError(f"notification exploded {CANARY}")
