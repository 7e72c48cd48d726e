"""CPU-bound work a request waits for, run where it does not stop other requests.

Under the gevent workers (:mod:`parrhesia.web.server`) every request of a process
shares one thread: an Argon2id derivation (a source's codename, a desk password) run
on it would stall every page and upload of that process for its duration. libsodium
releases the GIL, so the work goes to gevent's pool of real threads and only the
waiting request waits. Without gevent (the test client, gthread workers, the CLI) the
work runs where it is called.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

__all__ = ["blocking", "under_gevent"]

T = TypeVar("T")


def blocking(function: Callable[..., T], *args: object) -> T:
    """``function(*args)``, on a real thread when this process runs gevent's hub."""
    if under_gevent():
        import gevent

        result: T = gevent.get_hub().threadpool.apply(function, args)
        return result
    return function(*args)


def under_gevent() -> bool:
    """Whether this process runs gevent's hub: its threads are greenlets on one thread."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))
