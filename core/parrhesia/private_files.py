"""Files only their owner may read: the one way the server and the CLI create them.

Keys, secrets, backups and decrypted reports are written here: created with mode 0600
in one step (never a moment readable by others) and never over a file already there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["open_private", "write_private_file"]


def open_private(path: Path) -> BinaryIO:
    """A new file opened for writing, readable only by its owner; FileExistsError if ``path`` exists."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable only by its owner (its folder made if missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_private(path) as handle:
        handle.write(data)
