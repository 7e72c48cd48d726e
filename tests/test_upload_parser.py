"""The streaming multipart parser of parrhesia.upload, checked against Werkzeug's own.

Random bodies (seeded, so every run checks the same thousands of cases) are fed to
:class:`~parrhesia.upload.MultipartParser` cut at random points, byte by byte and at
every single split point, and the parts must come out exactly as Werkzeug's
``MultipartDecoder`` reads the whole body. Contents are built from the pieces that break
naive parsers: CR, LF, CRLF, dashes, prefixes of the delimiter and the boundary itself
without its CRLF. Then the limits, malformed and truncated bodies, and the receiving
end: short reads, an encrypting thread that fails, nothing stored after an error.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable
from pathlib import Path

import pytest
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from parrhesia.upload import MultipartError, MultipartParser, PartData, PartStart, TooManyParts

Part = tuple[str | None, str | None, str | None, bytes]  # name, filename, content type, content

BCHARS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=?"


def parse(
    body: bytes, boundary: bytes, cuts: Iterable[int] = (), *, blocks: type = bytes, **limits: int
) -> list[Part]:
    """Our parser, fed the body cut at the given offsets (as ``blocks``); raises MultipartError."""
    parser = MultipartParser(boundary, **limits)
    parts: list[Part] = []
    content = bytearray()
    start = 0
    for end in [*sorted(cuts), len(body)]:
        for event in parser.feed(blocks(body[start:end])):
            if isinstance(event, PartStart):
                assert not content
                parts.append((event.name, event.filename, event.headers.get("Content-Type"), b""))
            else:
                assert isinstance(event, PartData) and parts
                content += event.data
                if not event.more:
                    parts[-1] = (*parts[-1][:3], bytes(content))
                    content.clear()
        start = end
        if parser.complete:
            break
    parser.finish()
    return parts


def werkzeug_parse(body: bytes, boundary: bytes) -> list[Part]:
    """Werkzeug's MultipartDecoder on the whole body: the reference."""
    decoder = MultipartDecoder(boundary)
    decoder.receive_data(body)
    decoder.receive_data(None)
    parts: list[Part] = []
    content = bytearray()
    while True:
        event = decoder.next_event()
        if isinstance(event, (Epilogue, NeedData)):
            break
        if isinstance(event, (Field, File)):
            filename = event.filename if isinstance(event, File) else None
            parts.append((event.name, filename, event.headers.get("Content-Type"), b""))
        elif isinstance(event, Data):
            content += event.data
            if not event.more_data:
                parts[-1] = (*parts[-1][:3], bytes(content))
                content.clear()
    return parts


def random_boundary(rng: random.Random) -> bytes:
    size = rng.choice([1, 2, 5, 16, 30, 70])
    return "".join(rng.choice(BCHARS) for _ in range(size)).encode()


def random_content(rng: random.Random, boundary: bytes) -> bytes:
    delimiter = b"\r\n--" + boundary
    pieces = [
        b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"-", b"--", b"\r\n-", b"\r\n--", b" ", b"\t",
        boundary, b"--" + boundary, delimiter[: rng.randrange(1, len(delimiter))],
        boundary[: rng.randrange(1, len(boundary) + 1)],
    ]
    out = bytearray()
    for _ in range(rng.choice([0, 1, 3, 10, 60])):
        if rng.random() < 0.5:
            out += rng.choice(pieces)
        else:
            out += rng.randbytes(rng.choice([1, 7, 100, 5000]))
    if rng.random() < 0.05:
        out += rng.randbytes(200_000)
    # A sender's boundary never occurs in its content after a line break (RFC 2046);
    # Werkzeug also takes a lone CR or LF for a line break there.
    for bad in (delimiter, b"\n--" + boundary, b"\r--" + boundary):
        while bad in out:
            at = out.find(bad)
            out[at + len(bad) - 1 : at + len(bad)] = b"\x00"
    if out.startswith(b"--" + boundary):  # after the blank line, that too is a delimiter
        out[:0] = b"x"
    return bytes(out)


def random_name(rng: random.Random) -> str:
    return rng.choice(["csrf_token", "message", "attachments", "a", "é", "field name", "x-y.z"])


def random_filename(rng: random.Random) -> str:
    return rng.choice(["report.pdf", "", "a b.txt", 'quote"d.txt', "ünïcödé.odt", "semi;colon.txt"])


def quoted(value: str) -> str:
    """As browsers quote a name or filename (the HTML standard: " becomes %22)."""
    return value.replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def random_body(rng: random.Random) -> tuple[bytes, bytes, list[Part]]:
    boundary = random_boundary(rng)
    expected: list[Part] = []
    body = bytearray()
    if rng.random() < 0.2:
        body += b"This is the preamble.\r\n" if rng.random() < 0.5 else b"\r\n"
    for _ in range(rng.choice([0, 1, 2, 3, 6])):
        name = random_name(rng)
        filename = random_filename(rng) if rng.random() < 0.5 else None
        content_type = rng.choice([None, "text/plain", "application/octet-stream"])
        content = random_content(rng, boundary)
        padding = rng.choice([b"", b" ", b"\t ", b"  "])
        body += b"--" + boundary + padding + b"\r\n" if not body else b"\r\n--" + boundary + padding + b"\r\n"
        disposition = f'form-data; name="{quoted(name)}"'
        if filename is not None:
            disposition += f'; filename="{quoted(filename)}"'
        header_lines = [f"Content-Disposition: {disposition}"]
        if content_type:
            header_lines.append(f"Content-Type: {content_type}")
        rng.shuffle(header_lines)
        body += "".join(line + "\r\n" for line in header_lines).encode()
        if not content and rng.random() < 0.3:
            pass  # no blank line at all: a part with no body (Werkzeug's test client does this)
        else:
            body += b"\r\n" + content
        expected.append((name, filename, content_type, content))
    body += (b"\r\n--" if body else b"--") + boundary + b"--"
    body += rng.choice([b"", b"\r\n", b"\r\nThis is the epilogue.\r\n", b" \r\n"])
    return bytes(body), boundary, expected


def cuts_for(rng: random.Random, size: int) -> list[int]:
    style = rng.random()
    if style < 0.2 or size < 2:
        return []
    if style < 0.5:
        return sorted(rng.sample(range(1, size), min(size - 1, rng.randrange(1, 8))))
    steps = [1, 2, 3, 5, 17, 64, 4096] if size < 20_000 else [4093, 65536]
    step = rng.choice(steps)
    return list(range(step, size, step))


def test_random_bodies_at_random_split_points_parse_as_werkzeug_parses_them() -> None:
    rng = random.Random(20241128)
    for _ in range(2000):
        body, boundary, expected = random_body(rng)
        reference = werkzeug_parse(body, boundary)
        assert reference == expected  # the generator builds what it means to
        for _ in range(2):
            cuts = cuts_for(rng, len(body))
            assert parse(body, boundary, cuts) == reference, (body[:300], boundary, cuts[:20])


def test_bytearray_blocks_parse_as_bytes_do() -> None:
    # Under gunicorn the body arrives in bytearrays filled by recv_into.
    rng = random.Random(1128)
    for _ in range(400):
        body, boundary, expected = random_body(rng)
        cuts = cuts_for(rng, len(body))
        assert parse(body, boundary, cuts, blocks=bytearray) == expected, (body[:300], boundary, cuts[:20])


def test_part_contents_are_read_only_views_even_of_bytearray_blocks() -> None:
    body = bytearray(b'--b\r\nContent-Disposition: form-data; name="f"\r\n\r\nabc\r\n--b--\r\n')
    (start, data) = MultipartParser(b"b").feed(body)
    assert isinstance(start, PartStart) and isinstance(data, PartData)
    assert bytes(data.data) == b"abc" and data.data.readonly


def test_every_single_split_point_and_byte_by_byte() -> None:
    rng = random.Random(7)
    for _ in range(150):
        body, boundary, expected = random_body(rng)
        if len(body) > 1500:
            continue
        assert parse(body, boundary, range(1, len(body))) == expected
        for cut in range(len(body) + 1):
            assert parse(body, boundary, [cut]) == expected, (body, cut)


def test_crlf_and_delimiter_split_across_reads() -> None:
    boundary = b"B"
    content = b"line\r\nnext\r\n-\r\n--\r\n--Bx"[:-2] + b"\r\n-"  # ends with a delimiter prefix
    body = b'--B\r\nContent-Disposition: form-data; name="f"\r\n\r\n' + content + b"\r\n--B--\r\n"
    for cut in range(len(body) + 1):
        for second in range(cut, len(body) + 1):
            assert parse(body, boundary, [cut, second]) == [("f", None, None, content)]


def test_filenames_are_read_as_browsers_quote_them() -> None:
    for disposition, filename in [
        ('form-data; name="a"; filename="x%22y.txt"', 'x"y.txt'),
        ('form-data; name="a"; filename="x\\"y.txt"', 'x"y.txt'),
        ("form-data; name=\"a\"; filename*=UTF-8''%C3%A9t%C3%A9.txt", "été.txt"),
        ('form-data; name="a"; filename="été.txt"', "été.txt"),
        ('form-data; name="a"; filename=""', ""),
        ('form-data; name="a"', None),
    ]:
        body = f"--b\r\nContent-Disposition: {disposition}\r\n\r\nz\r\n--b--".encode()
        assert parse(body, b"b") == werkzeug_parse(body, b"b") == [("a", filename, None, b"z")]


def test_folded_header_lines_are_joined() -> None:
    body = b'--b\r\nContent-Disposition: form-data;\r\n name="a"\r\nContent-Type:\r\n\ttext/plain\r\n\r\nz\r\n--b--\r\n'
    assert parse(body, b"b") == werkzeug_parse(body, b"b") == [("a", None, "text/plain", b"z")]


def test_part_contents_are_views_of_the_blocks_fed_not_copies() -> None:
    content = bytes(range(256)) * 4096
    body = b'--b\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\n' + content + b"\r\n--b--\r\n"
    parser = MultipartParser(b"b")
    pieces = [e for e in parser.feed(body) if isinstance(e, PartData)]
    assert b"".join(pieces[0].data for _ in [0]) == content
    assert all(piece.data.obj is body for piece in pieces if piece.data)


def test_an_empty_form_and_a_form_of_empty_parts() -> None:
    assert parse(b"--b--\r\n", b"b") == []
    body = b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n--b\r\nContent-Disposition: form-data; name="c"\r\n\r\n--b--'
    assert parse(body, b"b") == werkzeug_parse(body, b"b") == [("a", None, None, b""), ("c", None, None, b"")]


def test_the_epilogue_is_ignored_and_not_needed() -> None:
    parser = MultipartParser(b"b")
    assert list(parser.feed(b"--b--")) == []
    assert parser.complete
    assert list(parser.feed(b"\r\nanything at all, even --b\r\n")) == []
    parser.finish()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"no boundary at all",
        b"--b",
        b"--b\r\n",
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n',
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue',
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--b',
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--b\r\n',
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue\r\n--b-',
    ],
)
def test_truncated_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MultipartError):
        parse(body, b"b")


def test_every_truncation_of_a_body_is_refused() -> None:
    rng = random.Random(3)
    body, boundary, parts = random_body(rng)
    while not (len(parts) >= 2 and len(body) < 3000):
        body, boundary, parts = random_body(rng)
    closing = body.rindex(b"--" + boundary + b"--") + len(boundary) + 4
    for cut in range(closing):
        with pytest.raises(MultipartError):
            parse(body[:cut], boundary)


@pytest.mark.parametrize(
    "body",
    [
        b"--b\r\nno colon here\r\n\r\nx\r\n--b--",
        b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",  # no Content-Disposition
        b'--b\r\nContent-Disposition: form-data; name="\xff"\r\n\r\nx\r\n--b--',  # not UTF-8
        b'--bX\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--',  # not a boundary line
        b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b?',
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(MultipartError):
        parse(body, b"b")


def test_header_blocks_and_padding_are_limited() -> None:
    long_header = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: " + b"y" * 20_000 + b"\r\n\r\nx\r\n--b--"
    with pytest.raises(MultipartError, match="too long"):
        parse(long_header, b"b", range(1000, len(long_header), 1000))
    assert parse(long_header, b"b", max_header_size=32 * 1024)[0][3] == b"x"
    padded = b"--b" + b" " * 1000 + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--'
    with pytest.raises(MultipartError, match="padding"):
        parse(padded, b"b")


def test_the_number_of_parts_is_limited() -> None:
    one = b'Content-Disposition: form-data; name="a"\r\n\r\nx\r\n'
    body = b"--b\r\n" + b"--b\r\n".join([one] * 5) + b"--b--"
    assert len(parse(body, b"b", max_parts=5)) == 5
    with pytest.raises(TooManyParts):
        parse(body, b"b", max_parts=4)


# --- The receiving end -----------------------------------------------------------------


class _Trickle(io.BytesIO):
    """An input stream that returns at most a few bytes per read, as sockets may."""

    def __init__(self, data: bytes, seed: int) -> None:
        super().__init__(data)
        self._rng = random.Random(seed)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return super().read()
        return super().read(min(size, self._rng.randrange(1, 9)))


def _body(boundary: str, token: str, content: bytes) -> bytes:
    return (
        f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="t.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content + f"\r\n--{boundary}--\r\n".encode()


def _blob_files(app: object) -> list[Path]:
    root = app.extensions["parrhesia.instance"].blobs.root  # type: ignore[attr-defined]
    return [p for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def signed(app: object) -> tuple[str, str]:
    """A CSRF secret as flask-wtf keeps it in the session, and the token signed from it."""
    with app.test_request_context("/"):  # type: ignore[attr-defined]
        from flask import session
        from flask_wtf.csrf import generate_csrf

        token = generate_csrf()
        return str(session["csrf_token"]), token


def _receive(app: object, body: bytes, boundary: str, secret: str, key: object, stream: object = None) -> object:
    from flask import request, session

    from parrhesia.upload import receive_submission

    blobs = app.extensions["parrhesia.instance"].blobs  # type: ignore[attr-defined]
    with app.test_request_context(  # type: ignore[attr-defined]
        "/submit",
        method="POST",
        input_stream=stream or io.BytesIO(body),
        content_type=f"multipart/form-data; boundary={boundary}",
        content_length=len(body),
    ):
        session["csrf_token"] = secret
        submission = receive_submission(
            request, blobs=blobs, report_id="r1", report_public_key=bytes(key.public_key), limit=10**9  # type: ignore[attr-defined]
        )
        assert request.form == {} and request.files == {}  # nothing left for Werkzeug to parse
        return submission


def test_short_reads_from_the_server_are_fine(app: object, signed: tuple[str, str]) -> None:
    from parrhesia.crypto import decrypt_bytes, new_report_keypair

    secret, token = signed
    key = new_report_keypair()
    content = random.Random(1).randbytes(300_000)
    body = _body("trickleBOUNDARY", token, content)
    submission = _receive(app, body, "trickleBOUNDARY", secret, key, _Trickle(body, 5))
    (part,) = submission.parts  # type: ignore[attr-defined]
    assert part.plaintext_size == len(content)
    meta, plaintext = decrypt_bytes(part.blob.temp_path.read_bytes(), key, "r1", part.part_id)
    assert plaintext == content and meta["filename"] == "t.bin"
    submission.discard()  # type: ignore[attr-defined]
    assert _blob_files(app) == []


def test_a_failing_encrypting_thread_stops_the_upload_and_stores_nothing(
    app: object, signed: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from parrhesia.crypto import PartWriter, new_report_keypair

    secret, token = signed
    calls = 0
    original = PartWriter.write

    def failing(self: PartWriter, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OSError(28, "No space left on device")
        original(self, data)

    monkeypatch.setattr(PartWriter, "write", failing)
    body = _body("failBOUNDARY", token, random.Random(2).randbytes(5 * 1024 * 1024))
    with pytest.raises(OSError, match="No space left"):
        _receive(app, body, "failBOUNDARY", secret, new_report_keypair())
    assert _blob_files(app) == []


def test_a_truncated_upload_stores_nothing_even_after_writing_began(app: object, signed: tuple[str, str]) -> None:
    from parrhesia.crypto import new_report_keypair
    from parrhesia.upload import SubmissionRejected

    secret, token = signed
    body = _body("cutBOUNDARY", token, random.Random(4).randbytes(3 * 1024 * 1024))
    with pytest.raises(SubmissionRejected):
        _receive(app, body[:-100], "cutBOUNDARY", secret, new_report_keypair())
    assert _blob_files(app) == []


@pytest.mark.parametrize("kind", [bytes, bytearray])
def test_the_search_that_lets_other_threads_run_finds_what_bytes_find_finds(kind: type) -> None:
    from parrhesia.upload.memmem import _MEMMEM_FROM, _find

    rng = random.Random(11)
    needle = b"\r\n--" + b"x" * 30
    for _ in range(60):
        size = rng.randrange(_MEMMEM_FROM, 3 * _MEMMEM_FROM)
        haystack = bytearray(rng.randbytes(size))
        for _ in range(rng.randrange(0, 3)):  # zero, one or two needles, perhaps at the very end
            at = rng.choice([0, size - len(needle), rng.randrange(0, size - len(needle))])
            haystack[at : at + len(needle)] = needle
        if rng.random() < 0.3:  # a near miss: all but the last byte
            at = rng.randrange(0, size - len(needle))
            haystack[at : at + len(needle) - 1] = needle[:-1]
        block = kind(haystack)
        for start in (0, 1, rng.randrange(0, size), size - _MEMMEM_FROM):
            assert _find(block, needle, start) == block.find(needle, start)
    grown = bytearray(b"a" * _MEMMEM_FROM)
    _find(grown, needle, 0)
    grown += b"b"  # the bytearray is not left locked by the search
    assert len(grown) == _MEMMEM_FROM + 1


def test_the_search_is_done_without_holding_the_gil_where_libc_has_memmem() -> None:
    import ctypes
    import sys

    from parrhesia.upload.memmem import _MEMMEM

    if not sys.platform.startswith("linux"):
        pytest.skip("memmem is looked up in the C library, which Linux always has")
    # A CDLL function (not a PyDLL one, flagged PYTHONAPI) releases the GIL while it runs.
    assert _MEMMEM is not None
    assert not _MEMMEM._flags_ & ctypes._FUNCFLAG_PYTHONAPI  # type: ignore[attr-defined]
