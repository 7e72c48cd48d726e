"""Encrypting and writing on threads of their own, each fed through a bounded queue.

libsodium and file writes release the GIL, so reading the body, encrypting it and writing
the ciphertext overlap on separate cores.

Under the gevent workers (:mod:`parrhesia.web.server`) "threads" are greenlets sharing
one thread, so they would overlap nothing and only hold each upload's blocks in their
queues: there every stage runs inline, in the request's own greenlet, and a body still
arriving holds one block and one chunk, not a queue of them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from parrhesia.offload import under_gevent
from parrhesia.storage.blobs import PendingBlob

QUEUE_DEPTH = 2  # blocks (or batches) waiting for the encrypting (or writing) thread
WRITE_BATCH = 1024 * 1024  # ciphertext bytes handed to the writing thread at a time
# A slow upload's ciphertext is handed over when it is this old, whatever its size: a
# body arriving at Tor speed then holds one chunk of ciphertext, not a whole batch.
WRITE_BATCH_AGE = 0.1  # seconds


class _Pipeline:
    """Run calls in order on one thread of its own, fed through a bounded queue.

    Started on the first call. The first error stops all further work and is raised
    by the next :meth:`call` or by :meth:`finish`; :meth:`cancel` stops the thread
    without raising. After ``finish`` or ``cancel`` returns, the thread has ended, so
    nothing is written any more to the files it was given.
    """

    def __init__(self, name: str, depth: int = QUEUE_DEPTH) -> None:
        self._name = name
        self._inline = under_gevent()
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(depth)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stopped = False

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        if self._error is not None:
            self._raise()
        if self._inline:
            if not self._stopped:
                function(*args)
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put((function, args))

    def finish(self) -> None:
        self._stop()
        if self._error is not None:
            self._raise()

    def cancel(self) -> None:
        self._stopped = True
        self._stop()

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        error, self._error = self._error, None
        self._stopped = True
        if error is not None:
            raise error

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._stopped or self._error is not None:
                continue  # drain, so that the producer never blocks
            function, args = item
            try:
                function(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the request thread
                self._error = exc


class _WriteBehind:
    """Where a PartWriter puts its ciphertext: batches handed to the writing thread.

    Encrypting and writing then overlap; the batches are ``bytes`` the encrypting
    thread no longer touches. :meth:`flush` hands over what is left of a part.
    """

    def __init__(self, blob: PendingBlob, writes: _Pipeline, writeback: _Writeback) -> None:
        self._blob = blob
        self._writes = writes
        self._writeback = writeback
        self._batch: list[bytes] = []
        self._size = 0
        self._began = 0.0

    def write(self, data: bytes) -> int:
        now = time.monotonic()
        if not self._batch:
            self._began = now
        self._batch.append(data)
        self._size += len(data)
        if self._size >= WRITE_BATCH or now - self._began >= WRITE_BATCH_AGE:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._batch:
            self._writes.call(_write_batch, self._blob, self._batch, self._writeback)
            self._batch, self._size = [], 0


def _write_batch(blob: PendingBlob, batch: list[bytes], writeback: _Writeback) -> None:
    writeback.request(blob, blob.write_all(batch))


class _Writeback:
    """Writeback hints (:meth:`PendingBlob.start_writeback`) on a thread of their own.

    Starting writeback can wait for room in a busy disk's queue; the writing thread
    must not wait with it. Requests made while a hint is running are merged into one
    for the latest position (a hint covers everything up to it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._latest: tuple[PendingBlob, int] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._inline = under_gevent()

    def request(self, blob: PendingBlob, end: int) -> None:
        if self._inline:
            return  # a hint only, which may wait for a busy disk: not on the event loop
        with self._lock:
            if self._stopping:
                return
            self._latest = (blob, end)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="parrhesia-writeback", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Stop; once this returns, no hint runs any more."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                if self._stopping:
                    return
                latest, self._latest = self._latest, None
            if latest is not None:
                blob, end = latest
                with suppress(OSError):  # a hint only: the fsync at commit makes the blob durable
                    blob.start_writeback(end)
