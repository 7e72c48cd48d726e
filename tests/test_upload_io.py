"""How an upload's bytes move: read from gunicorn's connection, written, written back.

The parser and the encryption have tests of their own (test_upload_parser.py); these
cover the I/O around them: reading a body straight from gunicorn's socket with
gunicorn's own request parser (so that gunicorn finds the connection as it expects
afterwards), the writing of batches and the writeback hints.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from gunicorn.config import Config
from gunicorn.http import wsgi
from gunicorn.http.parser import RequestParser
from werkzeug.wrappers import Request

from parrhesia.storage.blobs import BlobStore
from parrhesia.upload import receive_submission
from parrhesia.upload.body import _body_blocks, _gunicorn_body
from parrhesia.upload.pipeline import _Writeback


def _request_bytes(body: bytes, *, length: int | None = None, path: str = "/submit") -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: multipart/form-data; boundary=BOUNDARY\r\n"
        f"Content-Length: {len(body) if length is None else length}\r\n\r\n"
    )
    return head.encode() + body


NEXT_REQUEST = b"GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n"


class _Connection:
    """A client and gunicorn's parser on the two ends of a socket pair."""

    def __init__(self, data: bytes, *, close: bool = False) -> None:
        self.client, self.server = socket.socketpair()
        self.server.settimeout(10)
        self._sender = threading.Thread(target=self._send, args=(data, close), daemon=True)
        self._sender.start()
        self.cfg = Config()
        self.parser = RequestParser(self.cfg, self.server, ("127.0.0.1", 1))

    def _send(self, data: bytes, close: bool) -> None:
        try:
            self.client.sendall(data)
            if close:
                self.client.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the reader went away first

    def next_environ(self) -> dict[str, object]:
        request = next(self.parser)
        _, environ = wsgi.create(request, self.server, ("127.0.0.1", 1), ("127.0.0.1", 8000), self.cfg)
        return environ

    def close(self) -> None:
        self.client.close()
        self.server.close()
        self._sender.join(timeout=10)


@pytest.fixture
def connection() -> Iterator[list[_Connection]]:
    opened: list[_Connection] = []
    yield opened
    for item in opened:
        item.close()


def _open(opened: list[_Connection], data: bytes, *, close: bool = False) -> _Connection:
    item = _Connection(data, close=close)
    opened.append(item)
    return item


@pytest.mark.parametrize("size", [100, 5000, 3 * 1024 * 1024 + 17])
def test_a_body_is_read_from_gunicorns_connection_and_the_next_request_is_intact(
    connection: list[_Connection], size: int
) -> None:
    # Small bodies sit wholly in what gunicorn read ahead with the headers (together
    # with the start of the next request); large ones come mostly from the socket.
    body = random.Random(size).randbytes(size)
    conn = _open(connection, _request_bytes(body) + NEXT_REQUEST)
    environ = conn.next_environ()
    assert _gunicorn_body(environ) is not None  # the direct path is taken
    blocks = list(_body_blocks(Request(environ), size=1024 * 1024))
    assert b"".join(blocks) == body
    assert all(len(block) <= 1024 * 1024 for block in blocks)
    # Gunicorn knows the body is consumed: the next request parses where it begins.
    following = conn.next_environ()
    assert (following["REQUEST_METHOD"], following["PATH_INFO"]) == ("GET", "/after")


def test_a_body_cut_short_by_the_client_is_short_and_the_connection_is_not_reused(
    connection: list[_Connection],
) -> None:
    body = random.Random(9).randbytes(2 * 1024 * 1024)
    conn = _open(connection, _request_bytes(body[:-1000], length=len(body)), close=True)
    environ = conn.next_environ()
    received = b"".join(_body_blocks(Request(environ)))
    assert received == body[:-1000]
    assert environ["wsgi.input"].failed is True  # gunicorn closes such a connection
    with pytest.raises(StopIteration):
        conn.next_environ()


def test_other_servers_inputs_are_read_through_wsgi_input() -> None:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(method="POST", data=b"x" * 10).get_environ()
    assert _gunicorn_body(environ) is None
    assert b"".join(_body_blocks(Request(environ))) == b"x" * 10


def test_a_submission_arrives_whole_through_gunicorns_connection(
    app: Flask, connection: list[_Connection]
) -> None:
    from flask import session
    from flask_wtf.csrf import generate_csrf

    from parrhesia.crypto import decrypt_bytes, new_report_keypair

    with app.test_request_context("/"):
        token = generate_csrf()
        secret = str(session["csrf_token"])
    content = random.Random(3).randbytes(2 * 1024 * 1024 + 5)
    body = (
        f'--BOUNDARY\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n{token}\r\n'
        '--BOUNDARY\r\nContent-Disposition: form-data; name="attachments"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + content + b"\r\n--BOUNDARY--\r\n"
    conn = _open(connection, _request_bytes(body) + NEXT_REQUEST)
    environ = conn.next_environ()
    key = new_report_keypair()
    instance = app.extensions["parrhesia.instance"]
    with app.request_context(environ):
        from flask import request

        session["csrf_token"] = secret
        submission = receive_submission(
            request, blobs=instance.blobs, report_id="r1", report_public_key=bytes(key.public_key), limit=10**9
        )
    (part,) = submission.parts
    meta, plaintext = decrypt_bytes(part.blob.temp_path.read_bytes(), key, "r1", part.part_id)
    assert plaintext == content and meta["filename"] == "big.bin"
    submission.discard()
    assert conn.next_environ()["PATH_INFO"] == "/after"


def test_batches_are_written_whole_even_when_the_kernel_takes_a_little_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    real_writev = os.writev

    def stingy(fd: int, buffers: list[memoryview]) -> int:
        first = memoryview(buffers[0])[:777]
        return real_writev(fd, [first])

    monkeypatch.setattr(os, "writev", stingy)
    pending = BlobStore(tmp_path).create()
    pieces = [random.Random(n).randbytes(n * 1000 + 1) for n in range(6)]
    assert pending.write_all(pieces) == sum(map(len, pieces))
    assert pending.write_all([b"tail"]) == sum(map(len, pieces)) + 4
    pending.file.close()
    assert pending.temp_path.read_bytes() == b"".join(pieces) + b"tail"


class _HintedBlob:
    def __init__(self, fail: bool = False) -> None:
        self.ends: list[int] = []
        self.fail = fail

    def start_writeback(self, end: int | None = None) -> None:
        assert end is not None
        self.ends.append(end)
        if self.fail:
            raise OSError(5, "Input/output error")


def _wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def test_writeback_hints_run_in_order_and_stop_for_good() -> None:
    writeback = _Writeback()
    blob = _HintedBlob()
    for end in (10, 20, 30):
        writeback.request(blob, end)  # type: ignore[arg-type]
    _wait_for(lambda: blob.ends and blob.ends[-1] == 30)
    assert blob.ends == sorted(blob.ends) and set(blob.ends) <= {10, 20, 30}  # merged, never reordered
    writeback.stop()
    writeback.request(blob, 40)  # type: ignore[arg-type]
    time.sleep(0.05)
    assert 40 not in blob.ends


def test_a_failing_writeback_hint_is_only_a_hint() -> None:
    writeback = _Writeback()
    failing, fine = _HintedBlob(fail=True), _HintedBlob()
    writeback.request(failing, 10)  # type: ignore[arg-type]
    _wait_for(lambda: failing.ends == [10])
    writeback.request(fine, 20)  # type: ignore[arg-type]
    _wait_for(lambda: fine.ends == [20])  # the thread goes on after the error
    writeback.stop()
