"""Ciphertext over HTTP: blobs streamed out in chunks, never read whole into memory.

Parts sealed elsewhere come in through :mod:`parrhesia.upload.sealed_part`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from flask import Response, abort, stream_with_context

from parrhesia.instance import current_instance

__all__ = ["ciphertext_response"]

_CHUNK = 1024 * 1024
logger = logging.getLogger(__name__)


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
