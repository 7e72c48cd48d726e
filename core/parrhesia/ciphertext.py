"""Ciphertext over HTTP: blobs streamed out, and parts sealed elsewhere streamed in.

Replies and notes sealed on a recipient's machine or in their browser arrive as a
whole part in the request body; :func:`receive_part` writes them to a pending blob
while checking that they are a whole Parrhesia part (the server cannot check more: it
cannot decrypt them). Blobs go out in chunks, never read whole into memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import IO

from flask import Response, abort, stream_with_context
from flask_babel import lazy_gettext as _l

from parrhesia.blobs import BlobStore, PendingBlob
from parrhesia.crypto import CIPHERTEXT_CHUNK_SIZE, HEADER_SIZE, MAGIC
from parrhesia.instance import current_instance

__all__ = ["NotAPart", "is_whole_part", "receive_part", "ciphertext_response"]

_CHUNK = 1024 * 1024
logger = logging.getLogger(__name__)


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


def ciphertext_response(blob: str) -> Response:
    """A streamed ``application/octet-stream`` response with the blob's exact length.

    The blob is opened before the response starts, so a part whose ciphertext file is
    missing (deleted, or a store restored without it) is a plain 404, never a 500 or a
    response cut short after its headers.
    """
    try:
        handle = current_instance().blobs.open(blob)
    except FileNotFoundError:
        # The operator's problem to look into (a store restored without it?); the client's a plain 404.
        logger.warning("The ciphertext blob %s of a part is missing from the blob store.", blob)
        abort(404, "This part's ciphertext is missing on the server.")
    try:
        size = os.fstat(handle.fileno()).st_size
    except BaseException:
        handle.close()
        raise

    def stream() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    response = Response(stream_with_context(stream()), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(size)
    response.call_on_close(handle.close)  # also when the stream is never iterated (a HEAD request)
    return response
