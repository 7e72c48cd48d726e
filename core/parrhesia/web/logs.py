"""Logging policy: nothing that identifies a source ever reaches a log.

Parrhesia's own code never logs IP addresses, user agents, codenames or content. As a
second line of defence, every handler configured here carries :class:`RedactingFilter`,
which rewrites anything shaped like an IP address, and gunicorn's access log format
(:data:`ACCESS_LOG_FORMAT`) leaves out the remote address, user agent and referrer.
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["RedactingFilter", "configure_logging", "ACCESS_LOG_FORMAT", "LOG_FORMAT"]

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# gunicorn access log: request line, status and size only; no %(h)s, %(a)s, %(f)s, %(t)s.
ACCESS_LOG_FORMAT = '"%(m)s %(U)s" %(s)s %(B)s'

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_REDACTED = "[address removed]"


class RedactingFilter(logging.Filter):
    """Replace anything shaped like an IPv4 or IPv6 address in a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _IPV6.sub(_REDACTED, _IPV4.sub(_REDACTED, message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def configure_logging(level: int = logging.INFO) -> None:
    """Send Parrhesia's logs to stderr through the redacting filter (idempotent)."""
    root = logging.getLogger()
    if any(isinstance(f, RedactingFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    # Werkzeug's request log prints the client address; Parrhesia never serves with it
    # in production, and silences it everywhere.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
