"""Parts sealed elsewhere, streamed in: replies and notes sealed on a recipient's machine.

They arrive as a whole part in a request body; :func:`receive_part` writes them to a
pending blob while checking that they are a whole Parrhesia part (the server cannot
check more: it cannot decrypt them).
"""

from __future__ import annotations

from typing import IO

from flask_babel import lazy_gettext as _l

from parrhesia.crypto import CIPHERTEXT_CHUNK_SIZE, HEADER_SIZE, MAGIC
from parrhesia.storage.blobs import BlobStore, PendingBlob

__all__ = ["NotAPart", "is_whole_part", "receive_part"]

_CHUNK = 1024 * 1024


class NotAPart(ValueError):
    """A request body that is not a whole Parrhesia part, or too large (``status``)."""

    def __init__(self, message: object, status: int = 400) -> None:
        super().__init__(str(message))
        self.status = status


def is_whole_part(size: int) -> bool:
    """Whether a ciphertext size is a header plus whole chunks (not truncated)."""
    return size > HEADER_SIZE and (size - HEADER_SIZE) % CIPHERTEXT_CHUNK_SIZE == 0


def receive_part(stream: IO[bytes], blobs: BlobStore, part_id: str, limit: int) -> tuple[PendingBlob, int]:
    """Stream a part into a pending blob; the caller commits or discards it."""
    pending = blobs.create(part_id)
    size = 0
    try:
        while chunk := stream.read(_CHUNK):
            if size == 0 and not chunk.startswith(MAGIC):
                raise NotAPart(_l("This is not a Parrhesia part."))
            size += len(chunk)
            if size > limit:
                raise NotAPart(_l("This part is larger than this instance accepts."), 413)
            pending.file.write(chunk)
        if not is_whole_part(size):
            raise NotAPart(_l("This is not a whole Parrhesia part."))
    except BaseException:
        pending.discard()
        raise
    return pending, size
