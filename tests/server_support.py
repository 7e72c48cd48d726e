"""Helpers for tests against a real ``parrhesia serve`` (gunicorn) process.

A :class:`ServedInstance` runs the command line exactly as an operator would, on a free
loopback port, with ``TMPDIR`` pointed at a folder of the test's own and everything the
server prints captured in a log file, so that tests can search all of it afterwards.
:class:`WebClient` is a small cookie-keeping HTTP client built on the standard library
(``urllib`` and ``http.client``), able to stream a multipart body from a generator.
"""

from __future__ import annotations

import base64
import http.client
import http.cookiejar
import os
import re
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from parrhesia.testing import csrf_token, work_fields

__all__ = [
    "Attachment",
    "ServedInstance",
    "WebClient",
    "Response",
    "CODENAME",
    "parrhesia_command",
    "run_parrhesia",
    "set_instance_option",
    "content_form_fields",
    "multipart_body",
    "multipart_length",
    "peak_rss_bytes",
    "session_cookie_payload",
    "files_containing",
    "DeskRecipient",
    "register_recipient",
    "create_body_key",
    "add_reader",
]

CODENAME = re.compile(r'id="codename"[^>]*>([^<]+)<')
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0


def parrhesia_command() -> list[str]:
    """The installed ``parrhesia`` console script next to this Python."""
    script = Path(sys.executable).parent / "parrhesia"
    if script.exists():
        return [str(script)]
    found = shutil.which("parrhesia")
    if found is None:
        raise AssertionError("the parrhesia console script is not installed next to this Python")
    return [found]


def run_parrhesia(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``parrhesia ARGS`` and return the finished process (never raises on failure)."""
    return subprocess.run(  # noqa: S603 - our own console script
        [*parrhesia_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def set_instance_option(instance_dir: Path, key: str, value: int | str) -> None:
    """Set a scalar option under ``[instance]`` in parrhesia.toml (before serving)."""
    import tomllib

    import tomli_w

    config_file = instance_dir / "parrhesia.toml"
    document = tomllib.loads(config_file.read_text(encoding="utf-8"))
    document.setdefault("instance", {})[key] = value
    config_file.write_text(tomli_w.dumps(document), encoding="utf-8")


@dataclass(frozen=True)
class DeskRecipient:
    """A recipient registered as an operator does, with the key files of their own machine."""

    body_id: str
    key_file: Path
    passphrase_file: Path
    known_keys: Path
    token: str

    def desk_args(self, server_url: str) -> list[str]:
        """The arguments every ``parrhesia desk`` command of this machine takes."""
        return ["--server", server_url, "--token", self.token, "--key", str(self.key_file),
                "--passphrase-file", str(self.passphrase_file), "--known-keys", str(self.known_keys)]


def register_recipient(
    instance_dir: Path, body_id: str, name: str, machine: Path, passphrase: str | None = None
) -> DeskRecipient:
    """``parrhesia keys generate`` on the recipient's machine, then ``parrhesia recipients
    add`` by the operator: the recipient holds no body key yet (see :func:`create_body_key`)."""
    machine.mkdir(parents=True, exist_ok=True)
    passphrase_file = machine / "passphrase"
    passphrase_file.write_text((passphrase or secrets.token_hex(16)) + "\n", encoding="utf-8")
    key_file = machine / "recipient.key"
    generated = run_parrhesia("keys", "generate", "--out", str(key_file), "--passphrase-file", str(passphrase_file))
    assert generated.returncode == 0, generated.stderr
    added = run_parrhesia(
        "recipients", "add", "--instance", str(instance_dir), "--body", body_id, "--name", name,
        "--public-key-file", str(key_file),
    )
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    return DeskRecipient(body_id, key_file, passphrase_file, machine / "known-keys.json", token)


def create_body_key(server_url: str, recipient: DeskRecipient) -> None:
    """The body's first recipient makes its body key on their own machine."""
    done = run_parrhesia("desk", "body-key", "create", *recipient.desk_args(server_url))
    assert done.returncode == 0, done.stdout + done.stderr


def add_reader(server: ServedInstance, body_id: str, name: str = "Standing reader") -> DeskRecipient:
    """A body's first recipient, registered and holding the body key they created, so
    that reports routed there can be read (as the ``app`` fixture's standing readers)."""
    machine = server.work_dir / "machines" / f"{body_id}-{secrets.token_hex(3)}"
    reader = register_recipient(server.instance_dir, body_id, name, machine)
    create_body_key(server.url, reader)
    return reader


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class ServedInstance:
    """A ``parrhesia serve`` process for one instance folder."""

    instance_dir: Path
    work_dir: Path
    workers: int = 1
    threads: int = 4  # per gthread worker
    access_log: bool = True
    worker_class: str = "gevent"
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def tmpdir(self) -> Path:
        return self.work_dir / "server-tmp"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def start(self) -> ServedInstance:
        self.tmpdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):  # a free port can be taken between probing and binding
            self.port = _free_port()
            args = [
                "serve", "--instance", str(self.instance_dir), "--bind", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers), "--threads", str(self.threads), "--worker-class", self.worker_class,
                "--access-log" if self.access_log else "--no-access-log",
            ]
            env = {**os.environ, "TMPDIR": str(self.tmpdir), "PYTHONUNBUFFERED": "1"}
            env.pop("PARRHESIA_DATABASE_URL", None)  # the instance's own configuration decides
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(  # noqa: S603 - our own console script
                    [*parrhesia_command(), *args], stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True,
                )
            if self._wait_until_answering():
                return self
            self.stop()
            if "Address already in use" not in self.log() or attempt == 2:
                break
        raise AssertionError(f"parrhesia serve did not start; its log:\n{self.log()}")

    def _wait_until_answering(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                    if sock.recv(16).startswith(b"HTTP/1."):
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        """Stop gracefully (SIGTERM to the gunicorn master), killing only after a timeout."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers: children of the master process."""
        assert self.process is not None
        master = self.process.pid
        children: list[int] = []
        for task in Path(f"/proc/{master}/task").iterdir():
            text = (task / "children").read_text()
            children += [int(pid) for pid in text.split()]
        return children

    def __enter__(self) -> ServedInstance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def peak_rss_bytes(pid: int) -> int:
    """A process's peak resident set size (VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str = ""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass(frozen=True)
class Attachment:
    """A file to upload: its bytes, an iterable of them (with ``size``), or a file on disk.

    A file on disk (a ``Path``) is sent by :meth:`WebClient.post_multipart` with
    ``sendfile``, as an efficient client would: the benchmark's client then takes as
    little as possible of the CPU the server it measures runs on.
    """

    filename: str
    content: bytes | Iterable[bytes] | Path
    size: int | None = None  # needed when content is an iterable
    content_type: str = "application/octet-stream"

    @property
    def length(self) -> int:
        if isinstance(self.content, bytes):
            return len(self.content)
        if isinstance(self.content, Path):
            return self.content.stat().st_size
        if self.size is None:
            raise ValueError("a streamed attachment needs its size")
        return self.size


def _field_head(boundary: str, name: str, filename: str | None, content_type: str | None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        quoted = filename.replace("\\", "\\\\").replace('"', "%22")
        disposition += f'; filename="{quoted}"'
    head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
    if content_type:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode("utf-8")


def multipart_body(boundary: str, fields: list[tuple[str, str]], files: list[Attachment]) -> Iterator[bytes]:
    """A multipart/form-data body in pieces, fields first (the CSRF token must lead)."""
    for piece in _multipart_pieces(boundary, fields, files):
        if isinstance(piece, Path):
            yield from _file_blocks(piece)
        else:
            yield piece


def _file_blocks(path: Path, size: int = 1024 * 1024) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while block := handle.read(size):
            yield block


def _multipart_pieces(
    boundary: str, fields: list[tuple[str, str]], files: list[Attachment]
) -> Iterator[bytes | Path]:
    """The body's pieces, a file on disk standing for its content (see Attachment)."""
    for name, value in fields:
        yield _field_head(boundary, name, None, None) + value.encode("utf-8") + b"\r\n"
    for attachment in files:
        yield _field_head(boundary, "attachments", attachment.filename, attachment.content_type)
        if isinstance(attachment.content, (bytes, Path)):
            yield attachment.content
        else:
            yield from attachment.content
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def multipart_length(boundary: str, fields: list[tuple[str, str]], files: list[Attachment]) -> int:
    """The exact length of :func:`multipart_body` without generating any content."""
    total = sum(len(_field_head(boundary, n, None, None)) + len(v.encode("utf-8")) + 2 for n, v in fields)
    for a in files:
        total += len(_field_head(boundary, "attachments", a.filename, a.content_type)) + a.length + 2
    return total + len(f"--{boundary}--\r\n".encode())


class WebClient:
    """A browser-like client: one cookie jar, every Set-Cookie header remembered."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.set_cookies: list[str] = []
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoErrors())

    def _record(self, headers: list[tuple[str, str]]) -> None:
        self.set_cookies += [v for k, v in headers if k.lower() == "set-cookie"]

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def request(self, method: str, path: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Response:
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers or {})
        with self.opener.open(req, timeout=120) as raw:
            response = Response(raw.status, list(raw.headers.items()), raw.read(), raw.url)
        self._record(response.headers)
        return response

    def post_form(self, path: str, fields: dict[str, str]) -> Response:
        data = urllib.parse.urlencode(fields).encode()
        return self.request("POST", path, data, {"Content-Type": "application/x-www-form-urlencoded"})

    def csrf_token(self, path: str) -> str:
        match = _CSRF.search(self.get(path).text)
        if match is None:
            raise AssertionError(f"no csrf_token field on {path}")
        return match.group(1)

    def _cookie_header(self, url: str) -> str:
        probe = urllib.request.Request(url)
        self.jar.add_cookie_header(probe)
        return probe.get_header("Cookie") or ""

    def post_multipart(
        self,
        path: str,
        fields: list[tuple[str, str]],
        files: list[Attachment] = (),  # type: ignore[assignment]
        *,
        chunked: bool = False,
        pause_after: int | None = None,
        on_pause: object = None,
    ) -> Response:
        """POST a streamed multipart body with http.client.

        With ``chunked`` the body goes without Content-Length, so any size limit can only
        be enforced while streaming. With ``pause_after`` the callable ``on_pause`` runs
        once that many body bytes are sent, while the request is still open. Sending stops
        as soon as the server answers early (e.g. 413), as a browser would.
        """
        boundary = "----parrhesia" + secrets.token_hex(12)
        files = list(files)
        url = self.base_url + path
        parsed = urllib.parse.urlsplit(url)
        connection = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
        connection.putrequest("POST", parsed.path)
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        else:
            connection.putheader("Content-Length", str(multipart_length(boundary, fields, files)))
        cookie = self._cookie_header(url)
        if cookie:
            connection.putheader("Cookie", cookie)
        connection.endheaders()
        sock = connection.sock
        sent = 0
        paused = pause_after is None
        try:
            # Files on disk go with sendfile, unless the body is framed (chunked) or cut
            # at a given byte (pause_after).
            direct = not chunked and paused
            body = _multipart_pieces(boundary, fields, files) if direct else multipart_body(boundary, fields, files)
            for piece in _pieces(body, 256 * 1024):
                if isinstance(piece, Path):
                    with open(piece, "rb") as handle:
                        sock.sendfile(handle)
                    sent += piece.stat().st_size
                    continue
                if select.select([sock], [], [], 0)[0]:
                    break  # the server has answered before reading everything
                if not paused and sent + len(piece) > pause_after:  # type: ignore[operator]
                    cut = pause_after - sent  # type: ignore[operator]
                    _send(sock, piece[:cut], chunked)
                    sent += cut
                    piece = piece[cut:]
                    on_pause()  # type: ignore[operator]
                    paused = True
                _send(sock, piece, chunked)
                sent += len(piece)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the rest; its answer is still to be read
        raw = connection.getresponse()
        response = Response(raw.status, raw.getheaders(), raw.read(), url)
        connection.close()
        self._record(response.headers)
        self._store_cookies(response, url)
        return response

    def _store_cookies(self, response: Response, url: str) -> None:
        class _Info:
            def __init__(self, headers: list[tuple[str, str]]) -> None:
                self.headers = headers

            def get_all(self, name: str, default: list[str]) -> list[str]:
                return [v for k, v in self.headers if k.lower() == name.lower()] or default

        class _Raw:
            def __init__(self, headers: list[tuple[str, str]]) -> None:
                self._info = _Info(headers)

            def info(self) -> _Info:
                return self._info

        self.jar.extract_cookies(_Raw(response.headers), urllib.request.Request(url))  # type: ignore[arg-type]

    def submit(self, message: str, files: list[Attachment] = (), **kwargs: object) -> tuple[Response, str | None]:  # type: ignore[assignment]
        """Submit through the source forms as a browser would; return the codename shown.

        Step 1 (GET /submit) asks the routing questions, all left unanswered here; step 2
        (POST /submit/review) shows who will read the report and the content form, whose
        CSRF token and hidden routing answers are sent first, then the message and files.
        """
        token = self.csrf_token("/submit")
        review = self.post_form("/submit/review", {"csrf_token": token})
        if review.status != 200:
            raise AssertionError(f"the review step answered {review.status}: {review.text[:2000]}")
        fields = content_form_fields(review.text)
        response = self.post_multipart("/submit", [*fields, ("message", message)], files, **kwargs)  # type: ignore[arg-type]
        match = CODENAME.search(response.text)
        return response, (match.group(1).strip() if match else None)

    def log_in(self, codename: str) -> Response:
        page = self.get("/login").text
        return self.post_form("/login", {"csrf_token": csrf_token(page), **work_fields(page), "codename": codename})


class _HiddenInputs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.in_content_form = False
        self.fields: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.in_content_form = (values.get("action") or "").endswith("/submit")
        elif tag == "input" and self.in_content_form and values.get("type") == "hidden" and values.get("name"):
            self.fields.append((values["name"] or "", values.get("value") or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_content_form = False


def content_form_fields(page: str) -> list[tuple[str, str]]:
    """The hidden fields (CSRF token first, routing answers) of the content form on a page."""
    parser = _HiddenInputs()
    parser.feed(page)
    if not parser.fields or parser.fields[0][0] != "csrf_token":
        raise AssertionError("no content form with a leading csrf_token on the page")
    return parser.fields


class _NoErrors(urllib.request.HTTPErrorProcessor):
    """Follow redirects, but hand 4xx/5xx responses back like any other instead of raising."""

    def http_response(self, request, response):  # type: ignore[no-untyped-def]
        if response.status >= 400:
            return response
        return super().http_response(request, response)

    https_response = http_response


def _send(sock: socket.socket, data: bytes, chunked: bool) -> None:
    if not data:
        return
    if chunked:
        sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    else:
        sock.sendall(data)


def _pieces(chunks: Iterable[bytes | Path], size: int) -> Iterator[bytes | Path]:
    """Re-cut a stream of byte strings into pieces of at most ``size`` bytes (files pass)."""
    for chunk in chunks:
        if isinstance(chunk, Path):
            yield chunk
            continue
        view = memoryview(chunk)
        for start in range(0, len(view), size):
            yield bytes(view[start:start + size])


def session_cookie_payload(set_cookie: str) -> bytes:
    """The decoded payload of a Flask (itsdangerous) session cookie, for inspection."""
    value = set_cookie.split(";", 1)[0].split("=", 1)[1].strip('"')
    compressed = value.startswith(".")
    payload = value.lstrip(".").split(".", 1)[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    return zlib.decompress(data) if compressed else data


def files_containing(needles: Iterable[bytes], roots: Iterable[Path]) -> list[tuple[Path, bytes]]:
    """Every (file, needle) where a needle occurs in a file under the roots (recursively)."""
    needles = [n for n in needles if n]
    overlap = max(len(n) for n in needles) - 1
    found: list[tuple[Path, bytes]] = []
    for root in roots:
        paths = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in paths:
            try:
                handle = open(path, "rb")  # noqa: SIM115
            except (FileNotFoundError, PermissionError):
                continue  # removed while we looked (e.g. a blob renamed into place)
            with handle:
                tail = b""
                hits: set[bytes] = set()
                while block := handle.read(4 * 1024 * 1024):
                    window = tail + block
                    hits.update(n for n in needles if n in window)
                    tail = window[-overlap:] if overlap else b""
            found += [(path, n) for n in sorted(hits)]
    return found

