"""Receiving a submission: multipart parsing that encrypts as it parses.

Werkzeug's form parser spools large files to plaintext temporary files. Submission
routes instead read the raw request body in large blocks and run it through
:class:`MultipartParser`, a small streaming parser that hands each file (and the
message text) to a :class:`~parrhesia.crypto.PartWriter` writing into a pending blob.
Part contents are passed on as views of the blocks read, without copying. Encryption
runs on a second thread and file writes on a third, each fed through a bounded queue
(libsodium and file writes release the GIL), so reading, encrypting and writing
overlap on separate cores; under gunicorn the body is read straight from the
connection, and the parser's large searches let go of the GIL too. Memory stays at a
few blocks whatever the upload size; plaintext exists only in memory; the size limit
is enforced on bytes as they arrive.

The CSRF token must arrive before any message or file (browsers send fields in page
order and the forms put it first), so a forged request is refused before its content
is read. On any error the encrypting thread is stopped and every pending blob is
discarded: nothing is stored.
"""

from __future__ import annotations

import ctypes
import io
import json
import queue
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from flask import Request
from flask_babel import gettext as _
from flask_wtf.csrf import ValidationError, validate_csrf
from werkzeug.datastructures import Headers
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header

from parrhesia.blobs import BlobStore, PendingBlob
from parrhesia.crypto import PartWriter

__all__ = [
    "EncryptedPart",
    "MultipartError",
    "MultipartParser",
    "PartData",
    "PartStart",
    "Submission",
    "SubmissionRejected",
    "SubmissionTooLarge",
    "TooManyParts",
    "receive_submission",
]

READ_SIZE = 1024 * 1024  # bytes asked of the request body at a time
QUEUE_DEPTH = 2  # blocks (or batches) waiting for the encrypting (or writing) thread
WRITE_BATCH = 1024 * 1024  # ciphertext bytes handed to the writing thread at a time
FIELD_LIMIT = 4096  # bytes for a plain form field (CSRF token, routing choices)
ANSWER_LIMIT = 64 * 1024  # bytes for one answer to a content question
MAX_PARTS = 200
MAX_HEADER_SIZE = 16 * 1024  # bytes for the header block of one part
ENCRYPTED_FIELDS = frozenset({"message"})


class SubmissionRejected(BadRequest):
    """A submission refused as a whole; nothing of it was stored."""


class SubmissionTooLarge(RequestEntityTooLarge):
    """A submission over the instance's limit; nothing of it was stored."""


@dataclass
class EncryptedPart:
    """One message or attachment, encrypted into a pending (not yet visible) blob."""

    part_id: str
    kind: str
    blob: PendingBlob
    plaintext_size: int = 0
    ciphertext_size: int = 0


@dataclass
class Submission:
    """What a submission form delivered: small plain fields and encrypted parts."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    parts: list[EncryptedPart] = field(default_factory=list)

    def discard(self) -> None:
        for part in self.parts:
            part.blob.discard()
        self.parts.clear()

    def commit(self) -> None:
        for part in self.parts:
            part.blob.commit()


def receive_submission(
    request: Request,
    *,
    blobs: BlobStore,
    report_id: str,
    report_public_key: bytes,
    limit: int,
    content_fields: frozenset[str] = frozenset(),
) -> Submission:
    """Parse and encrypt a multipart submission; raise SubmissionRejected or SubmissionTooLarge.

    Fields named in ``content_fields`` (a questionnaire's content questions) are never
    kept in ``fields``: their answers are encrypted together as one part of kind
    "answers" (a JSON object), like the message.
    """
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not _valid_boundary(boundary):
        raise SubmissionRejected(_("The form was not sent as expected. Please use the form on this site."))
    if request.content_length is not None and request.content_length > limit:
        raise SubmissionTooLarge(_too_large(limit))

    receiver = _Receiver(blobs, report_id, report_public_key, content_fields)
    try:
        _run(receiver, request, boundary.encode("latin-1"), limit)
        receiver.seal_answers()
        receiver.finish()
    except BaseException:
        receiver.abort()
        raise
    finally:
        _body_consumed(request)
    return receiver.submission


def _too_large(limit: int) -> str:
    return _(
        "Your submission is larger than this instance accepts (%(megabytes)s MB in total). "
        "Nothing was stored. Please send fewer or smaller files.",
        megabytes=limit // (1000 * 1000),
    )


def _malformed() -> SubmissionRejected:
    return SubmissionRejected(_("The upload was interrupted or malformed. Nothing was stored; please try again."))


def _run(receiver: _Receiver, request: Request, boundary: bytes, limit: int) -> None:
    parser = MultipartParser(boundary, max_parts=MAX_PARTS)
    received = 0
    try:
        for block in _body_blocks(request):
            received += len(block)
            if received > limit:
                raise SubmissionTooLarge(_too_large(limit))
            for event in parser.feed(block):
                receiver.handle(event)
            if parser.complete:
                return  # the epilogue, if any, is left unread
        parser.finish()
    except TooManyParts:
        raise SubmissionRejected(_("The form has too many parts.")) from None
    except ValueError:  # MultipartError, or a field or part the receiver cannot take
        raise _malformed() from None


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
    request.form = request.parameter_storage_class()
    request.files = request.parameter_storage_class()


def _valid_boundary(boundary: str) -> bool:
    """RFC 2046: 1 to 70 characters; we refuse only what could confuse the parser."""
    return 0 < len(boundary) <= 200 and boundary.isascii() and "\r" not in boundary and "\n" not in boundary


# --- The streaming multipart parser ------------------------------------------------


class MultipartError(ValueError):
    """A multipart body that is malformed or ends before its closing delimiter."""


class TooManyParts(MultipartError):
    """A multipart body with more parts than allowed."""


@dataclass(frozen=True)
class PartStart:
    """The headers of a new part: ``filename`` is None for a plain field."""

    name: str | None
    filename: str | None
    headers: Headers


@dataclass(frozen=True)
class PartData:
    """Content of the current part; ``more`` is False on the part's last piece.

    ``data`` is a read-only view into a block the parser was fed (no copy): it stays
    valid as long as it is referenced, since blocks are immutable ``bytes``.
    """

    data: memoryview
    more: bool


_EMPTY = memoryview(b"")
_PREAMBLE, _AFTER_BOUNDARY, _HEADERS, _DATA, _DONE = range(5)
_MAX_PADDING = 256  # transport padding (spaces, tabs) allowed after a boundary


class MultipartParser:
    """An incremental ``multipart/form-data`` parser (RFC 7578, RFC 2046) over memoryviews.

    Feed it the body in blocks of any size with :meth:`feed`, which yields
    :class:`PartStart` and :class:`PartData` events; call :meth:`finish` at the end of
    the body. Line breaks must be CRLF, as browsers send them. The delimiter
    (CRLF, ``--``, boundary) is found with ``bytes.find`` even when a block boundary
    splits it; part contents are never copied, except at most the few bytes of a block
    that could start a delimiter continued in the next block. A part's header block is
    limited to ``max_header_size`` bytes and the number of parts to ``max_parts``;
    the preamble and the epilogue are ignored. A delimiter must be followed by ``--``
    or by optional padding and CRLF: anything else is refused as malformed rather than
    taken for content (RFC 2046 forbids the delimiter inside a part; browsers choose
    boundaries that do not occur). Raises :class:`MultipartError` on malformed input
    (:class:`TooManyParts` past ``max_parts``).
    """

    def __init__(self, boundary: bytes, *, max_parts: int = MAX_PARTS, max_header_size: int = MAX_HEADER_SIZE) -> None:
        if not boundary or b"\r" in boundary or b"\n" in boundary:
            raise ValueError("not a usable multipart boundary")
        self._delimiter = b"\r\n--" + boundary
        self._max_parts = max_parts
        self._max_header_size = max_header_size
        self._state = _PREAMBLE
        # A body may begin with the boundary itself: as if a CRLF came before it.
        self._buffer = bytearray(b"\r\n")
        self._held = b""  # in content: a tail that may begin a delimiter
        self._blank = False  # whether _held begins with the CRLF ending a header block
        self._parts = 0

    @property
    def complete(self) -> bool:
        """Whether the closing delimiter has been read (what follows is epilogue)."""
        return self._state == _DONE

    def finish(self) -> None:
        """Declare the end of the body; raise MultipartError unless it was complete."""
        if self._state != _DONE:
            raise MultipartError("the body ends before its closing delimiter")

    def feed(self, block: bytes | bytearray) -> Iterator[PartStart | PartData]:
        """Parse the next block of the body, yielding the events it completes.

        The events' data are views of ``block``: the caller must not change a
        ``bytearray`` block after feeding it.
        """
        view = memoryview(block).toreadonly()
        pos, end = 0, len(block)
        while pos < end:
            state = self._state
            if state == _DATA:
                pos = yield from self._content(block, view, pos)
            elif state == _HEADERS:
                pos, start = self._headers(block, pos)
                if start is not None:
                    yield start
            elif state == _AFTER_BOUNDARY:
                pos = self._after_boundary(block, pos)
            elif state == _PREAMBLE:
                pos = self._preamble(block, pos)
            else:  # _DONE: the epilogue is ignored
                return

    # Each step consumes some of block[pos:] and returns the new position.

    def _preamble(self, block: bytes | bytearray, pos: int) -> int:
        buffer = self._buffer
        searched = max(0, len(buffer) - len(self._delimiter) + 1)
        buffer += block[pos:]
        found = buffer.find(self._delimiter, searched)
        if found < 0:
            # Keep only what could begin a delimiter; the preamble itself is ignored.
            del buffer[: max(0, len(buffer) - len(self._delimiter) + 1)]
            return len(block)
        rest = len(buffer) - (found + len(self._delimiter))
        buffer.clear()
        self._state = _AFTER_BOUNDARY
        return len(block) - rest

    def _after_boundary(self, block: bytes | bytearray, pos: int) -> int:
        """After a delimiter: ``--`` (the body is complete) or padding and CRLF (a part)."""
        buffer = self._buffer
        taken = min(len(block) - pos, _MAX_PADDING + 2 - len(buffer))
        before = len(buffer)
        buffer += block[pos : pos + taken]
        if buffer[:2] == b"--":
            self._state = _DONE
            buffer.clear()
            return len(block)
        if buffer[:1] == b"-":
            if len(buffer) >= 2:
                raise MultipartError("a boundary is followed by something else than -- or a line break")
            return pos + taken  # need one more byte
        padding = len(buffer) - len(buffer.lstrip(b" \t"))
        line_end = padding + 2
        if len(buffer) < line_end:
            if len(buffer) >= _MAX_PADDING + 2:
                raise MultipartError("too much padding after a boundary")
            return pos + taken
        if buffer[padding:line_end] != b"\r\n":
            raise MultipartError("a boundary is followed by something else than -- or a line break")
        # Headers follow; the CRLF that ended the boundary line stays, so that an empty
        # header block is found as CRLF CRLF like any other.
        consumed = line_end - before
        buffer.clear()
        buffer += b"\r\n"
        self._state = _HEADERS
        return pos + consumed

    def _headers(self, block: bytes | bytearray, pos: int) -> tuple[int, PartStart | None]:
        buffer = self._buffer
        before = len(buffer)
        room = self._max_header_size + 4 - before
        buffer += block[pos : pos + room]
        found = buffer.find(b"\r\n\r\n", max(0, before - 3))
        if found < 0:
            if len(buffer) >= self._max_header_size + 4:
                raise MultipartError("a part's headers are too long")
            return len(block), None  # all of it was taken, or the limit was reached
        self._parts += 1
        if self._parts > self._max_parts:
            raise TooManyParts("too many parts")
        start = _part_start(bytes(buffer[2:found]))
        consumed = found + 4 - before
        buffer.clear()
        self._held, self._blank = b"\r\n", True
        self._state = _DATA
        return pos + consumed, start

    def _content(self, block: bytes | bytearray, view: memoryview, pos: int) -> Iterator[PartData]:
        """Yield the content in block[pos:] up to a delimiter; return the position after it."""
        delimiter = self._delimiter
        size = len(delimiter)
        if self._blank:
            # Right after a part's header lines: CRLF is the blank line before the
            # content, unless it begins a delimiter (a part with no body, RFC 2046).
            held = self._held
            probe = held + block[pos : pos + size - len(held)]
            if probe.startswith(delimiter):
                self._held, self._blank = b"", False
                yield PartData(_EMPTY, False)
                self._state = _AFTER_BOUNDARY
                return pos + size - len(held)
            if len(probe) < size and delimiter.startswith(probe):
                self._held = probe  # too few bytes to tell
                return len(block)
            self._held, self._blank = held[2:], False
        if self._held:
            # A delimiter may begin in the held tail and end in this block.
            held = self._held
            probe = held + block[pos : pos + size - 1]
            found = probe.find(delimiter)
            if found >= 0:
                self._held = b""
                yield PartData(memoryview(held)[:found], False)
                self._state = _AFTER_BOUNDARY
                return pos + found + size - len(held)
            if len(probe) < len(held) + size - 1:
                # The block is shorter than a delimiter: all of it is in the probe.
                keep = _delimiter_tail(probe, delimiter, 0)
                self._held = probe[keep:]
                if keep:
                    yield PartData(memoryview(probe)[:keep], True)
                return len(block)
            self._held = b""
            yield PartData(memoryview(held), True)
        found = _find(block, delimiter, pos)
        if found >= 0:
            yield PartData(view[pos:found], False)
            self._state = _AFTER_BOUNDARY
            return found + size
        keep = _delimiter_tail(block, delimiter, pos)
        if keep < len(block):
            self._held = block[keep:]
        if keep > pos:
            yield PartData(view[pos:keep], True)
        return len(block)


def _libc_memmem() -> Callable[..., int | None] | None:
    """The C library's memmem, where ctypes can find it (glibc, musl, macOS, BSDs)."""
    try:
        memmem = ctypes.CDLL(None).memmem
    except (AttributeError, OSError, TypeError):
        return None
    memmem.restype = ctypes.c_void_p
    memmem.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t]
    return memmem  # type: ignore[no-any-return]


_MEMMEM = _libc_memmem()
_MEMMEM_FROM = 64 * 1024  # below this, bytes.find is as quick as a foreign call


def _find(block: bytes | bytearray, needle: bytes, start: int) -> int:
    """``block.find(needle, start)``, letting the other threads run while it searches.

    ``bytes.find`` holds the GIL throughout; a content part's search covers most of
    every block, and meanwhile the encrypting thread cannot take the GIL back after
    each chunk. ctypes releases the GIL around foreign calls, so a large search goes
    to the C library's ``memmem`` (measured: 256 MiB received in 0.43 s instead of
    0.53 s). Without ``memmem``, or for a short search, ``bytes.find`` answers.
    """
    length = len(block) - start
    if _MEMMEM is None or length < _MEMMEM_FROM:
        return block.find(needle, start)
    # ``buffer`` keeps the block's memory exported (a bytearray cannot be resized) until
    # this function returns.
    if isinstance(block, bytearray):
        buffer: Any = (ctypes.c_char * len(block)).from_buffer(block)
        base = ctypes.addressof(buffer)
    else:
        buffer = ctypes.c_char_p(block)  # points into the bytes object itself: no copy
        base = ctypes.cast(buffer, ctypes.c_void_p).value or 0
    found = _MEMMEM(base + start, length, needle, len(needle))
    return -1 if found is None else found - base


def _delimiter_tail(data: bytes, delimiter: bytes, start: int) -> int:
    """Where the longest suffix of data[start:] that is a proper prefix of the delimiter starts.

    Those bytes may begin a delimiter that the next block completes, so they are held
    back; returns len(data) when there are none. Only a suffix shorter than the
    delimiter can qualify (a whole delimiter would have been found).
    """
    cr = data.find(b"\r", max(start, len(data) - len(delimiter) + 1))
    while cr >= 0:
        if delimiter.startswith(data[cr:]):
            return cr
        cr = data.find(b"\r", cr + 1)
    return len(data)


def _part_start(block: bytes) -> PartStart:
    """Parse a part's header block (CRLF-separated lines, folded lines joined)."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        raise MultipartError("a part's headers are not UTF-8") from None
    headers = Headers()
    for line in text.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n"):
        line = line.strip(" \t")
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise MultipartError("a part's header line has no colon")
            headers.add(name.strip(" \t"), value.strip(" \t"))
    disposition = headers.get("Content-Disposition")
    if disposition is None:
        raise MultipartError("a part has no Content-Disposition header")
    _, options = parse_options_header(disposition)
    return PartStart(name=options.get("name"), filename=options.get("filename"), headers=headers)


# --- Encrypting and writing on threads of their own -------------------------------------


class _Pipeline:
    """Run calls in order on one thread of its own, fed through a bounded queue.

    Started on the first call. The first error stops all further work and is raised
    by the next :meth:`call` or by :meth:`finish`; :meth:`cancel` stops the thread
    without raising. After ``finish`` or ``cancel`` returns, the thread has ended, so
    nothing is written any more to the files it was given.
    """

    def __init__(self, name: str, depth: int = QUEUE_DEPTH) -> None:
        self._name = name
        self._queue: queue.Queue[tuple[Callable[..., Any], tuple[Any, ...]] | None] = queue.Queue(depth)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stopped = False

    def call(self, function: Callable[..., Any], *args: Any) -> None:
        if self._error is not None:
            self._raise()
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()
        self._queue.put((function, args))

    def finish(self) -> None:
        self._stop()
        if self._error is not None:
            self._raise()

    def cancel(self) -> None:
        self._stopped = True
        self._stop()

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        error, self._error = self._error, None
        self._stopped = True
        if error is not None:
            raise error

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._stopped or self._error is not None:
                continue  # drain, so that the producer never blocks
            function, args = item
            try:
                function(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the request thread
                self._error = exc


class _Receiver:
    """State of one multipart stream: the current part and what has been collected."""

    def __init__(
        self, blobs: BlobStore, report_id: str, report_public_key: bytes, content_fields: frozenset[str]
    ) -> None:
        self.blobs = blobs
        self.content_fields = content_fields
        self.answers: dict[str, str] = {}
        self.report_id = report_id
        self.report_public_key = report_public_key
        self.submission = Submission()
        self.csrf_checked = False
        self.field_name: str | None = None
        self.field_value = bytearray()
        self.pipeline = _Pipeline("parrhesia-encrypt")  # encrypts, hands batches to `writes`
        self.writes = _Pipeline("parrhesia-write")  # writes ciphertext to the pending blobs
        self.writeback = _Writeback()  # starts writing them out to disk
        # The part being received: its kind and metadata; its writer and blob exist
        # from its first content byte (an empty part leaves nothing behind).
        self.part_meta: tuple[str, dict[str, object]] | None = None
        self.open: _OpenPart | None = None

    def handle(self, event: PartStart | PartData) -> None:
        if isinstance(event, PartData):
            self._data(event)
        elif event.filename is None:
            if event.name in ENCRYPTED_FIELDS:
                self._start_part("message", {"kind": "message"})
            else:
                self.field_name = event.name
                self.field_value.clear()
        elif event.filename:
            content_type = event.headers.get("Content-Type", "application/octet-stream")
            meta = {"kind": "attachment", "filename": event.filename, "content_type": content_type}
            self._start_part("attachment", meta)
        else:
            self.field_name = None  # an empty file input: nothing chosen

    def _start_part(self, kind: str, meta: dict[str, object]) -> None:
        if not self.csrf_checked:
            raise SubmissionRejected(
                _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
            )
        self.part_meta = (kind, meta)
        self.field_name = None

    def _open_part(self, kind: str, meta: dict[str, object]) -> _OpenPart:
        part_id = secrets.token_hex(16)
        pending = self.blobs.create(part_id)
        part = EncryptedPart(part_id=part_id, kind=kind, blob=pending)
        self.submission.parts.append(part)
        out = _WriteBehind(pending, self.writes, self.writeback)
        return _OpenPart(part, PartWriter(out, self.report_public_key, self.report_id, part_id, meta), out)

    def _data(self, event: PartData) -> None:
        if self.part_meta is not None:
            if event.data:
                if self.open is None:
                    self.open = self._open_part(*self.part_meta)
                self.open.part.plaintext_size += len(event.data)
                self.pipeline.call(self.open.write, event.data)
            if not event.more:
                if self.open is not None:
                    self.pipeline.call(self.open.close)
                self.part_meta = self.open = None
        elif self.field_name is not None:
            self.field_value += event.data
            limit = ANSWER_LIMIT if self.field_name in self.content_fields else FIELD_LIMIT
            if len(self.field_value) > limit:
                raise SubmissionRejected(_("A form field is too long."))
            if not event.more:
                self._finish_field(self.field_name, self.field_value.decode("utf-8", errors="replace"))

    def _finish_field(self, name: str, value: str) -> None:
        self.field_name = None
        if name == "csrf_token":
            try:
                validate_csrf(value)
            except ValidationError:
                raise SubmissionRejected(
                    _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
                ) from None
            self.csrf_checked = True
        elif name in self.content_fields:
            if not self.csrf_checked:
                raise SubmissionRejected(
                    _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
                )
            if value.strip():
                self.answers[name] = value
        else:
            self.submission.fields.setdefault(name, []).append(value)

    def seal_answers(self) -> None:
        """Encrypt the content answers as one part; plaintext answers leave memory."""
        if not self.answers:
            return
        sink = self._open_part("answers", {"kind": "answers", "content_type": "application/json"})
        data = json.dumps(self.answers, ensure_ascii=False, sort_keys=True).encode("utf-8")
        self.answers.clear()
        sink.part.plaintext_size = len(data)
        self.pipeline.call(sink.write, data)
        self.pipeline.call(sink.close)

    def finish(self) -> None:
        """Wait until every part is encrypted and written; raise the first error."""
        self.pipeline.finish()  # the encrypting thread has ended: no more batches come
        self.writes.finish()
        self.writeback.stop()

    def abort(self) -> None:
        self.pipeline.cancel()  # the encrypting thread has ended: no more batches come
        self.writes.cancel()
        self.writeback.stop()  # no thread uses the files any more: they can go
        self.part_meta = self.open = None
        self.submission.discard()


class _WriteBehind:
    """Where a PartWriter puts its ciphertext: batches handed to the writing thread.

    Encrypting and writing then overlap; the batches are ``bytes`` the encrypting
    thread no longer touches. :meth:`flush` hands over what is left of a part.
    """

    def __init__(self, blob: PendingBlob, writes: _Pipeline, writeback: _Writeback) -> None:
        self._blob = blob
        self._writes = writes
        self._writeback = writeback
        self._batch: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> int:
        self._batch.append(data)
        self._size += len(data)
        if self._size >= WRITE_BATCH:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if self._batch:
            self._writes.call(_write_batch, self._blob, self._batch, self._writeback)
            self._batch, self._size = [], 0


def _write_batch(blob: PendingBlob, batch: list[bytes], writeback: _Writeback) -> None:
    writeback.request(blob, blob.write_all(batch))


class _Writeback:
    """Writeback hints (:meth:`PendingBlob.start_writeback`) on a thread of their own.

    Starting writeback can wait for room in a busy disk's queue; the writing thread
    must not wait with it. Requests made while a hint is running are merged into one
    for the latest position (a hint covers everything up to it).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._latest: tuple[PendingBlob, int] | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None

    def request(self, blob: PendingBlob, end: int) -> None:
        with self._lock:
            if self._stopping:
                return
            self._latest = (blob, end)
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="parrhesia-writeback", daemon=True)
                self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        """Stop; once this returns, no hint runs any more."""
        with self._lock:
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                if self._stopping:
                    return
                latest, self._latest = self._latest, None
            if latest is not None:
                blob, end = latest
                with suppress(OSError):  # a hint only: the fsync at commit makes the blob durable
                    blob.start_writeback(end)


@dataclass
class _OpenPart:
    """A part being encrypted: its methods run on the encrypting thread."""

    part: EncryptedPart
    writer: PartWriter
    out: _WriteBehind

    def write(self, data: memoryview | bytes) -> None:
        self.writer.write(data)

    def close(self) -> None:
        self.part.ciphertext_size = self.writer.close()
        self.out.flush()
