"""The bounds on submissions still arriving, per serving process.

A body still arriving costs little under the gevent workers, but not nothing (a
connection, a block of at most ``body.FIRST_READ`` while it is slow, the encrypting
pipeline's buffers), and a body that never ends would cost it for ever. So:

- each process receives at most ``instance.max_concurrent_uploads`` at a time; one
  more is refused with a page saying that nothing was sent and how to try again (its
  text is still in the source's browser: Back);
- a body that sends nothing for ``instance.upload_idle_seconds``, or on average less
  than ``instance.upload_min_rate`` bytes per second once that long has passed, is
  stopped (:class:`parrhesia.upload.body.BodyTooSlow`) and nothing of it is stored;
- an upload that would leave less than ``instance.upload_disk_reserve_mb`` free where
  the blobs are is refused before it is read (a flood of junk fills the disk only to
  that point, and the database and logs keep room to work); ``parrhesia doctor`` fails
  below the same reserve.

The defaults are far below what Tor gives (tens of KB/s or more); deploy/README.md
has the sizing figures.
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, ServiceUnavailable

__all__ = ["UploadBounds", "UploadsBusy", "DiskFull", "RETRY_AFTER"]

RETRY_AFTER = 120  # seconds, sent in Retry-After with a refusal


class UploadsBusy(ServiceUnavailable):
    """Every upload slot of this process is taken; nothing of this submission was kept."""

    def __init__(self) -> None:
        super().__init__(_(
            "Too many people are sending reports at this moment. Nothing was sent or stored. "
            "What you wrote is still in the form: go back with your browser's Back button and "
            "send it again in a few minutes."
        ))

    def get_headers(self, *args: object, **kwargs: object) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("Retry-After", str(RETRY_AFTER))]  # type: ignore[arg-type]


class DiskFull(HTTPException):
    """An upload that would leave less than the reserve free; nothing of it was kept."""

    code = 507
    name = "Insufficient Storage"

    def __init__(self) -> None:
        super().__init__(_(
            "This site is short of storage space and cannot take new reports at this moment. Nothing was "
            "sent or stored. What you wrote is still in the form: go back with your browser's Back button "
            "and send it again later."
        ))


class UploadBounds:
    """The bounds of one process, with its count of uploads in flight (safe across
    threads and greenlets)."""

    def __init__(self, concurrent: int, idle_seconds: float, min_rate: int, disk_reserve: int = 0) -> None:
        self.limit = concurrent
        self.idle_seconds = idle_seconds
        self.min_rate = min_rate
        self.disk_reserve = disk_reserve
        self._used = 0
        self._lock = threading.Lock()

    def room_for(self, folder: Path, incoming: int) -> bool:
        """Whether ``incoming`` more bytes in ``folder`` leave the reserve free."""
        return self.disk_reserve == 0 or shutil.disk_usage(folder).free - incoming >= self.disk_reserve

    def take(self) -> bool:
        """Take a slot; False when every one is taken (then nothing is to be given back)."""
        with self._lock:
            if self._used >= self.limit:
                return False
            self._used += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self._used -= 1
