"""CPU-bound work a request waits for, run where it does not stop other requests.

Under the gevent workers (:mod:`parrhesia.web.server`) every request of a process
shares one thread: an Argon2id derivation (a source's codename, a desk password) run
on it would stall every page and upload of that process for its duration. libsodium
releases the GIL, so the work goes to gevent's pool of real threads and only the
waiting request waits. The pool has one thread per core: Argon2id takes a core and
19–32 MiB for its duration, so more at once would only share the cores and hold more
memory (a flood of log-ins then waits in line instead of exhausting the process).
Without gevent (the test client, gthread workers, the CLI) the work runs where it is
called.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["blocking", "waiting", "under_gevent"]

T = TypeVar("T")


def blocking(function: Callable[..., T], *args: object) -> T:
    """``function(*args)``, on a real thread when this process runs gevent's hub."""
    if under_gevent():
        result: T = _pool().apply(function, args)
        return result
    return function(*args)


def waiting(function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` that waits on the disk (an fsync), on one of gevent's I/O
    threads when this process runs gevent's hub: the other requests go on meanwhile."""
    if under_gevent():
        import gevent

        result: T = gevent.get_hub().threadpool.apply(function, args)
        return result
    return function(*args)


_POOL: Any = None


def _pool() -> Any:
    """This process's pool of real threads (made on first use, after the worker forked)."""
    global _POOL
    if _POOL is None:
        from gevent.threadpool import ThreadPool

        _POOL = ThreadPool(maxsize=os.cpu_count() or 1)
    return _POOL


def under_gevent() -> bool:
    """Whether this process runs gevent's hub: its threads are greenlets on one thread."""
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and bool(monkey.is_module_patched("threading"))
