"""Reading a request's body, in large blocks, from the server itself.

Werkzeug's own readers copy every block once more (``request.stream``) or, for a form,
spool files to plaintext temporary files (``request.files``): the submission parser reads
``wsgi.input`` directly instead, or under gunicorn the connection's socket, and leaves
Werkzeug an empty body afterwards.
"""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from flask import Request
from werkzeug.datastructures import FileStorage, ImmutableMultiDict

from parrhesia.config import DEFAULT_UPLOAD_IDLE_SECONDS, DEFAULT_UPLOAD_MIN_RATE

READ_SIZE = 1024 * 1024  # the most bytes asked of the request body at a time
FIRST_READ = 16 * 1024  # the first block of a body; doubled while blocks fill quickly
FAST_BLOCK = 0.05  # seconds: a block filled sooner than this came from a fast client
SLOW_BLOCK = 0.5  # seconds: a block that took longer came from a slow one (halved again)

# A body that is still arriving costs a connection, not a worker thread (the gevent
# workers of parrhesia.web.server), but it must still end. Tor circuits run at tens of
# KB/s or more; these bounds are far below that.
# Used when no instance sets them (instance.upload_idle_seconds, instance.upload_min_rate):
# seconds without a byte, and the average rate checked once that long has passed.
IDLE_TIMEOUT = float(DEFAULT_UPLOAD_IDLE_SECONDS)
MIN_RATE = DEFAULT_UPLOAD_MIN_RATE


class BodyTooSlow(OSError):
    """The client sent nothing for the idle time, or on average less than the minimum rate after it."""


def _body_blocks(
    request: Request, size: int = READ_SIZE, *, idle: float = IDLE_TIMEOUT, min_rate: int = MIN_RATE
) -> Iterator[bytes | bytearray]:
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
        yield from _gunicorn_blocks(*direct, size, idle, min_rate)
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

    Still worth it under the gevent workers (issue 10, item 3): ingest of 256 MiB took
    0.46 s this way against 0.61 s through ``wsgi.input`` (medians of 3,
    ``bench_ingest.py``, 2026-12-02). Only this path applies the idle and minimum-rate
    bounds, which need the socket; through ``wsgi.input`` they are the server's own.
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


def _gunicorn_blocks(
    stream: Any, sock: socket.socket, size: int, idle: float, min_rate: int
) -> Iterator[bytes | bytearray]:
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
    pace = _Pace(len(ahead), grace=idle, min_rate=min_rate)
    previous_timeout = sock.gettimeout()
    block_size = min(FIRST_READ, size)
    try:
        while reader.length > 0:
            block = bytearray(min(block_size, reader.length))
            view, filled, began = memoryview(block), 0, time.monotonic()
            try:
                while filled < len(block):
                    sock.settimeout(idle)
                    try:
                        received = sock.recv_into(view[filled:])
                    except TimeoutError:
                        raise BodyTooSlow(f"no byte of the body for {idle:.0f} s") from None
                    if not received:
                        break
                    filled += received
                    pace.received(received)
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
            took = time.monotonic() - began
            if took < FAST_BLOCK:
                block_size = min(block_size * 2, size)  # a fast client: fewer, larger blocks
            elif took > SLOW_BLOCK:
                # bytes queued while the request waited can make a slow client look fast
                block_size = max(block_size // 2, FIRST_READ)
            yield block
    finally:
        sock.settimeout(previous_timeout)


class _Pace:
    """The average rate of a body so far; :class:`BodyTooSlow` below ``min_rate`` after ``grace`` seconds."""

    def __init__(self, already: int, *, grace: float, min_rate: int) -> None:
        self._start = time.monotonic()
        self._bytes = already
        self._grace = grace
        self._min_rate = min_rate

    def received(self, count: int) -> None:
        self._bytes += count
        elapsed = time.monotonic() - self._start
        if elapsed > self._grace and self._bytes < self._min_rate * elapsed:
            raise BodyTooSlow(f"the body arrived at less than {self._min_rate} bytes per second")


def discard_briefly(request: Request, *, seconds: float = 3.0, limit: int = 2 * 1024 * 1024) -> None:
    """Read and drop a refused body for a moment, so that the refusal page arrives.

    A server that answers early and closes a connection with unread bytes makes the
    client's network stack reset it, and a browser then shows a network error instead
    of the page. So a little is read (at most ``limit`` bytes, for about ``seconds``),
    then the connection is closed after the answer (Werkzeug is left an empty body).
    """
    deadline = time.monotonic() + seconds
    read = 0
    try:
        for block in _body_blocks(request, FIRST_READ, idle=seconds):
            read += len(block)
            if read >= limit or time.monotonic() > deadline:
                break
    except OSError:
        pass  # the client went away or stalled: nothing more to do for it
    finally:
        _body_consumed(request)


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
