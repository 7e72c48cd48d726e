"""A test notification channel: delivers into OUTBOX once ``[plugins.outbox] deliver =
true`` is set, and answers None (does not handle it) until then."""

from parrhesia.plugin import hookimpl

OUTBOX: list = []


@hookimpl
def parrhesia_notify(notification, config):  # type: ignore[no-untyped-def]
    if not config.raw.get("plugins", {}).get("outbox", {}).get("deliver"):
        return None
    OUTBOX.append(notification)
    return True
