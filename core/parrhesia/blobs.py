"""The blob store: ciphertext files inside the instance folder, written atomically.

A blob is first written to ``blobs/.tmp/``, flushed and fsynced, then renamed into
place, and the directory fsynced. A crash therefore leaves either nothing or a whole
file; a report becomes visible only when its database transaction commits after its
blobs are in place. Stray temporary files are removed when the store opens.
Only ciphertext is ever handed to this module.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = ["BlobStore", "PendingBlob", "BlobNameError"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
WRITEBACK_STEP = 8 * 1024 * 1024  # bytes written between two writeback hints
_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


class BlobNameError(ValueError):
    """A blob name that could escape the store or was never issued by it."""


class PendingBlob:
    """A blob being written; invisible until :meth:`commit`."""

    def __init__(self, store: BlobStore, name: str) -> None:
        self.store = store
        self.name = name
        self.temp_path = store.tmp_dir / f"{name}.{secrets.token_hex(4)}.part"
        self.file: BinaryIO = open(self.temp_path, "xb")  # noqa: SIM115 - closed in commit/discard
        self.committed = False
        self._hinted = 0  # bytes already handed to start_writeback

    def write_all(self, pieces: list[bytes]) -> int:
        """Append ``pieces`` with as few system calls as the kernel allows (one, usually).

        Returns the blob's size so far.
        """
        self.file.flush()  # anything written through `file` goes first
        fd = self.file.fileno()
        views = [memoryview(piece) for piece in pieces]
        while views:
            written = os.writev(fd, views)
            while views and written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            if views and written:
                views[0] = views[0][written:]
        return os.lseek(fd, 0, os.SEEK_CUR)

    def start_writeback(self, end: int) -> None:
        """Let the kernel start writing out the blob up to ``end`` (a size :meth:`write_all` returned).

        Called while a large blob is still being written, it spreads the disk writes
        over the upload, so the fsync in :meth:`commit` (which alone makes the blob
        durable) finds little left to do. On Linux, POSIX_FADV_DONTNEED starts the
        writeback of dirty pages in the range; it waits for none of it to reach the
        disk, though it may wait for room in a busy disk's queue (the upload path calls
        it from a thread of its own). A hint only: elsewhere, or when little was written
        since the last call, it does nothing.
        """
        if not _FADVISE:
            return
        if end - self._hinted < WRITEBACK_STEP:
            return
        os.posix_fadvise(self.file.fileno(), self._hinted, end - self._hinted, os.POSIX_FADV_DONTNEED)
        self._hinted = end

    def commit(self) -> str:
        """Flush, fsync and rename into place; return the blob name."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        final = self.store.path_for(self.name)
        final.parent.mkdir(exist_ok=True)
        os.replace(self.temp_path, final)
        _fsync_dir(final.parent)
        self.committed = True
        return self.name

    def discard(self) -> None:
        """Forget the blob, whether or not it was committed."""
        if not self.file.closed:
            self.file.close()
        self.temp_path.unlink(missing_ok=True)
        if self.committed:
            self.store.delete(self.name)


class BlobStore:
    """Ciphertext files addressed by name, sharded by the first two characters."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / ".tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def remove_stale_temporaries(self) -> int:
        """Delete temporary files left by a crash; return how many."""
        count = 0
        for stale in self.tmp_dir.glob("*.part"):
            stale.unlink(missing_ok=True)
            count += 1
        return count

    def path_for(self, name: str) -> Path:
        if not _NAME.match(name):
            raise BlobNameError(f"not a blob name: {name!r}")
        return self.root / name[:2] / name

    def create(self, name: str | None = None) -> PendingBlob:
        return PendingBlob(self, name or secrets.token_urlsafe(24))

    @contextmanager
    def writing(self, name: str | None = None) -> Iterator[PendingBlob]:
        """Write a blob; it is committed if the block succeeds, discarded otherwise."""
        pending = self.create(name)
        try:
            yield pending
        except BaseException:
            pending.discard()
            raise
        pending.commit()

    def open(self, name: str) -> BinaryIO:
        return open(self.path_for(name), "rb")  # noqa: SIM115 - caller closes

    def size(self, name: str) -> int:
        return self.path_for(name).stat().st_size

    def delete(self, name: str) -> None:
        self.path_for(name).unlink(missing_ok=True)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
