"""The blob store: ciphertext files inside the instance folder, written atomically.

A blob is first written to ``blobs/.tmp/``, flushed and fsynced, then renamed into
place, and the directory fsynced. A crash therefore leaves either nothing or a whole
file; a report becomes visible only when its database transaction commits after its
blobs are in place. Only ciphertext is ever handed to this module.

A temporary file is owned by the process writing it: its name carries a tag of the
host and the process id (``NAME.HOST-PID.RANDOM.part``). :meth:`BlobStore.remove_stale_temporaries`
(run at start-up and by ``parrhesia tick``) removes only those whose owner is provably
gone (same host, no such process) or that are older than :data:`TEMPORARY_MAX_AGE`, so
one worker's restart never breaks the uploads another worker is receiving. A process
killed between a blob's rename and its database commit leaves an orphan blob: see
:mod:`parrhesia.storage.orphans`, which collects them.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, NamedTuple

from parrhesia.offload import waiting

__all__ = ["BlobStore", "PendingBlob", "BlobNameError", "TEMPORARY_MAX_AGE", "StoredBlob"]

_NAME = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
# NAME.HOST-PID.RANDOM.part; a temporary of an earlier release is NAME.RANDOM.part.
_TEMPORARY = re.compile(r"^(?P<name>[A-Za-z0-9_-]{8,64})\.(?:(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})\.)?[0-9a-f]{8}\.part$")
TEMPORARY_MAX_AGE = 24 * 3600.0  # seconds; an upload never takes that long
WRITEBACK_STEP = 8 * 1024 * 1024  # bytes written between two writeback hints
_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


class BlobNameError(ValueError):
    """A blob name that could escape the store or was never issued by it."""


class PendingBlob:
    """A blob being written; invisible until :meth:`commit`."""

    def __init__(self, store: BlobStore, name: str) -> None:
        self.store = store
        self.name = name
        self.temp_path = store.tmp_dir / f"{name}.{_owner_tag()}.{secrets.token_hex(4)}.part"
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
        """Flush, fsync and rename into place; return the blob name.

        The blob's modification time is set to now, so that its age counts from the
        moment it appears in the store (the orphan collector's grace period starts there,
        however long the upload took).
        """
        self.file.flush()
        os.utime(self.file.fileno())
        waiting(os.fsync, self.file.fileno())  # off the event loop under gevent: others go on
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

    def remove_stale_temporaries(self, *, now: float | None = None, max_age: float = TEMPORARY_MAX_AGE) -> int:
        """Delete temporary files left by a crashed or killed process; return how many.

        A temporary is removed only when its owner (a process of this host) is provably
        gone, or when it is older than ``max_age`` seconds (an owner on another host, a
        file of an earlier release, or a process id reused since). Never one a live
        process is writing: another worker's upload goes on.
        """
        now = time.time() if now is None else now
        count = 0
        for path in self.tmp_dir.glob("*.part"):
            match = _TEMPORARY.match(path.name)
            try:
                old = now - path.stat().st_mtime > max_age
            except FileNotFoundError:
                continue  # committed or discarded meanwhile
            gone = match is not None and match["pid"] is not None and match["host"] == _host_tag() and _process_gone(int(match["pid"]))
            if old or gone:
                path.unlink(missing_ok=True)
                count += 1
        return count

    def pending_names(self) -> set[str]:
        """Names of the blobs being written now (or left by a crash, until removed)."""
        names = set()
        for path in self.tmp_dir.glob("*.part"):
            match = _TEMPORARY.match(path.name)
            names.add(match["name"] if match else path.name.split(".", 1)[0])
        return names

    def stored(self) -> Iterator[StoredBlob]:
        """Every blob in place: its name and modification time (when it was committed)."""
        for shard in sorted(self.root.iterdir()):
            if shard.name.startswith(".") or not shard.is_dir():
                continue
            for path in shard.iterdir():
                if not _NAME.match(path.name) or path.name[:2] != shard.name:
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                yield StoredBlob(path.name, stat.st_mtime)

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


class StoredBlob(NamedTuple):
    name: str
    mtime: float  # seconds since the epoch


def _host_tag() -> str:
    """This host's tag in temporary names: a process id means something only on its host."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]


def _owner_tag() -> str:
    return f"{_host_tag()}-{os.getpid()}"


def _process_gone(pid: int) -> bool:
    """True only if no process ``pid`` exists here (one of another user's still counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):
        return False  # PermissionError: it exists (another user's); no such pid number: unknown
    return False


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        waiting(os.fsync, fd)
    finally:
        os.close(fd)
