"""A served instance names no server software (issue 16 item 7): gunicorn writes a
``Server`` header of its own into every response, so this is checked on the wire,
against a real ``parrhesia serve``, for pages, API answers, errors and static files."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import ServedInstance

from parrhesia.web.server import SERVER_HEADER

pytestmark = pytest.mark.server

PATHS = ["/", "/no/such/page", "/api/v1/reports", "/desk/login", "/static/desk/partformat.js"]


@pytest.fixture
def served(instance_dir: Path, tmp_path: Path) -> Iterator[ServedInstance]:
    with ServedInstance(instance_dir, tmp_path / "server") as server:
        yield server


def _headers(served: ServedInstance, path: str, method: str = "GET") -> tuple[int, list[tuple[str, str]]]:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        return response.status, response.getheaders()
    finally:
        connection.close()


def test_every_response_has_one_neutral_server_header(served: ServedInstance) -> None:
    statuses = set()
    for method in ("GET", "HEAD"):
        for path in PATHS:
            status, headers = _headers(served, path, method)
            statuses.add(status)
            servers = [value for name, value in headers if name.lower() == "server"]
            assert servers == [SERVER_HEADER], (method, path, headers)
            assert not [h for h in headers if "gunicorn" in f"{h[0]} {h[1]}".lower()], (method, path, headers)
    assert {200, 401, 404} <= statuses  # pages, refusals and errors alike

    # HTTP/1.0, read off the socket as it was sent.
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = sock.recv(4096)
            if not chunk:
                break
            raw += chunk
    head = raw.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    assert f"\r\nServer: {SERVER_HEADER}\r\n" in head + "\r\n"
    assert "gunicorn" not in head.lower()
