"""A streaming ``multipart/form-data`` parser that hands part contents on as views, uncopied."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from dataclasses import dataclass

from werkzeug.datastructures import Headers
from werkzeug.http import parse_options_header

from parrhesia.upload.memmem import _find

MAX_PARTS = 200
MAX_HEADER_SIZE = 16 * 1024  # bytes for the header block of one part


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
        self._held: bytes | bytearray = b""  # in content: a tail that may begin a delimiter
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

    def _content(self, block: bytes | bytearray, view: memoryview, pos: int) -> Generator[PartData, None, int]:
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


def _delimiter_tail(data: bytes | bytearray, delimiter: bytes, start: int) -> int:
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
