"""Files only their owner may read: the one way the server and the CLI create them.

Keys, secrets, backups and decrypted reports are written here: created with mode 0600
in one step (never a moment readable by others) and never over a file already there.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["open_private", "replace_private_json", "write_private_file"]


def open_private(path: Path) -> BinaryIO:
    """A new file opened for writing, readable only by its owner; FileExistsError if ``path`` exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable only by its owner (its folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(path) as handle:
        handle.write(data)


def replace_private_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` whole, replacing what is there: through a fresh
    temporary file (mode 0600) in the same folder (made 0700 if missing), then renamed,
    so a reader sees the old file or the new one, never half of one. OSError if it cannot."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
