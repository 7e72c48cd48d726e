"""A test jurisdiction's clocks plugin that fails while ``[plugins.flaky-clocks] broken``
is true: 10 days to acknowledge, 60 days to give feedback (Test Whistleblowing Act)."""

from parrhesia.plugin import Clock, hookimpl


@hookimpl
def parrhesia_clocks(request, directory, route, config):  # type: ignore[no-untyped-def]
    if config.raw.get("plugins", {}).get("flaky-clocks", {}).get("broken"):
        raise RuntimeError("the deadlines table is unreachable")
    return [
        Clock(id="flaky-acknowledge", label="Acknowledge receipt", legal_source="Test Whistleblowing Act s.3",
              days=10, met_by="acknowledge"),
        Clock(id="flaky-feedback", label="Give feedback", legal_source="Test Whistleblowing Act s.4",
              days=60, met_by="feedback"),
    ]
