"""Reading a request's body, in large blocks, from the server itself.

Werkzeug's own readers copy every block once more (``request.stream``) or, for a form,
spool files to plaintext temporary files (``request.files``): the submission parser reads
``wsgi.input`` directly instead, or under gunicorn the connection's socket, and leaves
Werkzeug an empty body afterwards.
"""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from flask import Request
from werkzeug.datastructures import FileStorage, ImmutableMultiDict

READ_SIZE = 1024 * 1024  # bytes asked of the request body at a time


def _body_blocks(request: Request, size: int = READ_SIZE) -> Iterator[bytes | bytearray]:
    """The request body in blocks of up to ``size`` bytes, read from the WSGI input itself.

    Werkzeug's ``request.stream`` wraps the input in a LimitedStream that copies every
    block once more; reading ``wsgi.input`` directly, this respects Content-Length (never
    reading past it) or, without one, reads to the end only where the server ends the
    stream (``wsgi.input_terminated``, e.g. a chunked upload), as Werkzeug does. Under
    gunicorn, a body of known length is read from the connection itself
    (:func:`_gunicorn_blocks`). A block is never changed once it has been yielded.
    """
    environ = request.environ
    direct = _gunicorn_body(environ)
    if direct is not None:
        yield from _gunicorn_blocks(*direct, size)
        return
    remaining = request.content_length
    if remaining is None and not environ.get("wsgi.input_terminated"):
        return  # nothing can safely be read: the parser reports a truncated body
    stream: BinaryIO = environ["wsgi.input"]
    while remaining is None or remaining > 0:
        block = stream.read(size if remaining is None else min(size, remaining))
        if not block:
            return
        if type(block) is not bytes:
            block = bytes(block)  # views of it outlive this read: it must not change
        if remaining is not None:
            remaining -= len(block)
        yield block


def _gunicorn_body(environ: dict[str, Any]) -> tuple[Any, Any] | None:
    """Gunicorn's input and connection, when the body can be read from the connection.

    Gunicorn's ``wsgi.input`` assembles each read through two in-memory buffers,
    copying a 256 MiB upload several times over; reading the socket directly copies it
    once. This is done only for what is recognised exactly: gunicorn's ``Body`` over a
    ``LengthReader`` (a Content-Length body), nothing buffered in the ``Body`` itself,
    and an unreader that reads from ``gunicorn.socket`` and can hand over what it has
    read ahead. Anything else (another server, a chunked body, another gunicorn
    version) is read through ``wsgi.input``.
    """
    stream, sock = environ.get("wsgi.input"), environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or type(stream).__module__ != "gunicorn.http.body":
        return None
    reader = getattr(stream, "reader", None)
    unreader = getattr(reader, "unreader", None)
    buffered = getattr(stream, "buf", None)
    if (
        type(stream).__name__ != "Body"
        or type(reader).__name__ != "LengthReader"
        or not isinstance(getattr(reader, "length", None), int)
        or getattr(unreader, "sock", None) is not sock
        or not callable(getattr(unreader, "take_buffered", None))
        or not callable(getattr(unreader, "unread", None))
        or not isinstance(buffered, io.BytesIO)
        or buffered.getbuffer().nbytes != 0
    ):
        return None
    return stream, sock


def _gunicorn_blocks(stream: Any, sock: socket.socket, size: int) -> Iterator[bytes | bytearray]:
    """The rest of a Content-Length body: read ahead by gunicorn, then from the socket.

    Gunicorn's count of unread body bytes (``LengthReader.length``) is kept true as
    bytes are taken, and bytes read ahead past the body (a pipelined request) are given
    back, so gunicorn finds the connection where it expects it after the response. An
    error while reading marks the body failed: gunicorn then closes the connection.
    """
    reader = stream.reader
    ahead = reader.unreader.take_buffered()
    if len(ahead) > reader.length:
        reader.unreader.unread(ahead[reader.length :])
        ahead = ahead[: reader.length]
    reader.length -= len(ahead)
    if ahead:
        yield ahead
    while reader.length > 0:
        block = bytearray(min(size, reader.length))
        view, filled = memoryview(block), 0
        try:
            while filled < len(block):
                received = sock.recv_into(view[filled:])
                if not received:
                    break
                filled += received
        except BaseException:
            stream.failed = True
            raise
        finally:
            reader.length -= filled
        if filled < len(block):  # the client went away before the end of the body
            stream.failed = True
            if filled:
                yield bytes(block[:filled])
            return
        yield block


def _body_consumed(request: Request) -> None:
    """Leave Werkzeug an empty body: this parser is its only reader.

    Code that runs later in the request (a FlaskForm built for the answer page looks at
    ``request.form``) then finds an empty form instead of parsing, or spooling to a
    temporary file, whatever of the body is left after an error. Werkzeug's cached
    properties are set as its own form loading sets them.
    """
    request.stream = io.BytesIO()
    # Werkzeug declares form and files as ImmutableMultiDicts, and fills them with
    # parameter_storage_class() itself when it has nothing to parse.
    request.form = cast("ImmutableMultiDict[str, str]", request.parameter_storage_class())
    request.files = cast("ImmutableMultiDict[str, FileStorage]", request.parameter_storage_class())
