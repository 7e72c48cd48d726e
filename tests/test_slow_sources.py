"""Many slow sources at once (issue 10): uploads still arriving do not take the site down.

Against a real ``parrhesia serve``: more uploads than a gthread worker has threads are
held open half-sent, as a Tor connection at a few KB/s would hold them. Pages must
answer meanwhile; nothing plaintext reaches the instance folder while the bodies are
arriving; every upload is stored once its body is complete. The same scenario on a
gthread worker shows what the test guards against: the page does not answer.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import secrets
import shutil
import socket
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from server_support import (
    Attachment,
    ServedInstance,
    WebClient,
    add_reader,
    content_form_fields,
    multipart_body,
    run_parrhesia,
    set_instance_option,
)

pytestmark = pytest.mark.server

THREADS = 4  # of the gthread worker compared with
UPLOADS = 3 * THREADS  # more uploads in flight than that worker has threads


@dataclass
class HeldUpload:
    """A submission POST whose head and first half are sent; the rest waits."""

    sock: socket.socket
    rest: bytes
    head: str = ""  # the answer's status line and headers, once read

    def finish(self) -> tuple[int, str]:
        self.sock.sendall(self.rest)
        return self.answer()

    def answer(self) -> tuple[int, str]:
        raw = b""
        while chunk := self.sock.recv(65536):
            raw += chunk
        self.sock.close()
        head, _, body = raw.partition(b"\r\n\r\n")
        self.head = head.decode("latin-1")
        return int(head.split(b" ", 2)[1]), body.decode("utf-8", "replace")


def _hold_upload(served: ServedInstance, canary: str, number: int) -> HeldUpload:
    client = WebClient(served.url)
    review = client.post_form("/submit/review", {"csrf_token": client.csrf_token("/submit")})
    assert review.status == 200, review.text[:300]
    fields = [*content_form_fields(review.text), ("message", f"{canary} message {number}")]
    attachment = (canary.encode() + b" attachment ") * 20000  # about 0.5 MB
    boundary = "----parrhesia" + secrets.token_hex(12)
    body = b"".join(multipart_body(boundary, fields, [Attachment(f"evidence-{number}.txt", attachment)]))
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    head = (
        f"POST /submit HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=60)
    half = len(body) // 2
    sock.sendall(head + body[:half])
    return HeldUpload(sock, body[half:])


def _page_answers(served: ServedInstance, timeout: float, path: str = "/") -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except TimeoutError:
        return False
    finally:
        connection.close()


def _plaintext_in(folder: Path, canary: str) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and canary.encode() in path.read_bytes():
            found.append(str(path.relative_to(folder)))
    return found


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Path:
    """A new instance as `parrhesia init` makes it, on SQLite: the canary search reads its database file."""
    instance = tmp_path / "instance"
    done = run_parrhesia("init", "--instance", str(instance), "--name", "Slow sources")
    assert done.returncode == 0, done.stderr
    return instance


def _served(instance_dir: Path, tmp_path: Path, worker_class: str) -> Iterator[ServedInstance]:
    with ServedInstance(instance_dir, tmp_path / "server", workers=1, threads=THREADS, access_log=False,
                        worker_class=worker_class) as served:
        add_reader(served, "integrity-office")
        yield served


def test_pages_answer_while_more_uploads_than_threads_are_arriving(sqlite_instance: Path, tmp_path: Path) -> None:
    canary = "CANARY-" + secrets.token_hex(8)
    for served in _served(sqlite_instance, tmp_path, "gevent"):
        held = [_hold_upload(served, canary, n) for n in range(UPLOADS)]
        try:
            assert _page_answers(served, timeout=20), "the landing page did not answer while uploads were arriving"
            assert _plaintext_in(sqlite_instance, canary) == []  # half-received bodies are ciphertext only
        finally:
            for upload in held:  # every body ends at once: the submissions are stored side by side
                upload.sock.sendall(upload.rest)
            answers = [upload.answer() for upload in held]
        assert [status for status, _ in answers] == [200] * UPLOADS, [page[:300] for _, page in answers]
        assert all('id="codename"' in page for _, page in answers)
        with sqlite3.connect(sqlite_instance / "parrhesia.db") as database:
            assert database.execute("SELECT count(*) FROM reports").fetchone()[0] == UPLOADS
        assert _plaintext_in(sqlite_instance, canary) == []
        assert canary not in served.log()


def test_a_gthread_worker_stops_answering_with_as_many_uploads_arriving(sqlite_instance: Path, tmp_path: Path) -> None:
    """What the test above guards against: each body still arriving holds a thread."""
    for served in _served(sqlite_instance, tmp_path, "gthread"):
        held = [_hold_upload(served, "x", n) for n in range(THREADS)]
        try:
            assert not _page_answers(served, timeout=3)
        finally:
            for upload in held:
                upload.finish()


def test_an_upload_over_the_limit_in_flight_is_refused_with_a_page_and_stores_nothing(
    sqlite_instance: Path, tmp_path: Path
) -> None:
    set_instance_option(sqlite_instance, "max_concurrent_uploads", 2)
    for served in _served(sqlite_instance, tmp_path, "gevent"):
        held = [_hold_upload(served, "x", n) for n in range(2)]
        try:
            refused = _hold_upload(served, "y", 3)  # half sent: the answer comes before the rest
            status, page = refused.answer()
            assert status == 503
            assert "Back" in page and "Nothing was sent or stored" in page
            assert "\r\nretry-after: 120" in refused.head.lower()
        finally:
            answers = [upload.finish() for upload in held]
        assert [s for s, _ in answers] == [200, 200]
        with sqlite3.connect(sqlite_instance / "parrhesia.db") as database:
            assert database.execute("SELECT count(*) FROM reports").fetchone()[0] == 2


def test_a_stalled_upload_is_stopped_and_stores_nothing(sqlite_instance: Path, tmp_path: Path) -> None:
    set_instance_option(sqlite_instance, "upload_idle_seconds", 2)
    for served in _served(sqlite_instance, tmp_path, "gevent"):
        stalled = _hold_upload(served, "x", 1)  # half sent, then nothing
        status, page = stalled.answer()
        assert status == 408 and "Nothing was stored" in page
        assert _page_answers(served, timeout=20)
        assert not list((sqlite_instance / "blobs").rglob("*.part"))
        with sqlite3.connect(sqlite_instance / "parrhesia.db") as database:
            assert database.execute("SELECT count(*) FROM reports").fetchone()[0] == 0


def test_an_upload_below_the_minimum_rate_is_stopped(sqlite_instance: Path, tmp_path: Path) -> None:
    set_instance_option(sqlite_instance, "upload_idle_seconds", 2)
    set_instance_option(sqlite_instance, "upload_min_rate", 50_000)
    for served in _served(sqlite_instance, tmp_path, "gevent"):
        crawling = _hold_upload(served, "x", 1)
        status = 0
        with contextlib.suppress(OSError):  # the server may close before the last byte is sent
            for start in range(0, len(crawling.rest), 1000):  # 1 KB every 0.1 s: 10 KB/s, over 2 s
                crawling.sock.sendall(crawling.rest[start:start + 1000])
                time.sleep(0.1)
        status, page = crawling.answer()
        assert status == 408, page[:300]
        with sqlite3.connect(sqlite_instance / "parrhesia.db") as database:
            assert database.execute("SELECT count(*) FROM reports").fetchone()[0] == 0


def test_a_slow_follow_up_holds_no_database_lock(sqlite_instance: Path, tmp_path: Path) -> None:
    """A source's follow-up that is still arriving leaves the database to others: before,
    the request's transaction (opened to find the source's session) stayed open, on
    SQLite holding the write lock for as long as the body took."""
    for served in _served(sqlite_instance, tmp_path, "gevent"):
        source = WebClient(served.url)
        _, codename = source.submit("the first message")
        assert codename is not None
        logged = source.log_in(codename)
        assert logged.status == 200, logged.text[:300]
        page = source.get("/report").text
        assert 'action="/report"' in page, page[:3000]
        form = page[page.index('action="/report"'):]
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        fields = [("csrf_token", token.group(1)), ("message", "more, slowly")]
        boundary = "----parrhesia" + secrets.token_hex(12)
        body = b"".join(multipart_body(boundary, fields, [Attachment("more.txt", b"x" * 200_000)]))
        cookie = "; ".join(f"{c.name}={c.value}" for c in source.jar)
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=60)
        sock.sendall((f"POST /report HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
                      f"Cookie: {cookie}\r\nConnection: close\r\n\r\n").encode("ascii") + body[:len(body) // 2])
        held = HeldUpload(sock, body[len(body) // 2:])
        try:
            other, other_codename = WebClient(served.url).submit("another source, meanwhile")
            assert other_codename is not None, other.text[:500]
        finally:
            status, _ = held.finish()
        assert status in (200, 303)


def test_an_upload_that_would_fill_the_disk_is_refused_with_a_page(sqlite_instance: Path, tmp_path: Path) -> None:
    free_mb = shutil.disk_usage(sqlite_instance).free // (1024 * 1024)
    set_instance_option(sqlite_instance, "upload_disk_reserve_mb", free_mb + 1024)  # more than there is
    for served in _served(sqlite_instance, tmp_path, "gevent"):
        status, page = _hold_upload(served, "x", 1).answer()
        assert status == 507 and "Nothing was sent or stored" in page
        assert _page_answers(served, timeout=20)
        with sqlite3.connect(sqlite_instance / "parrhesia.db") as database:
            assert database.execute("SELECT count(*) FROM reports").fetchone()[0] == 0


def test_another_process_writing_does_not_stop_the_worker(sqlite_instance: Path, tmp_path: Path) -> None:
    """SQLite waits for another process's write lock by sleeping in C; under gevent that
    would stop every request of the worker. While this test's process holds the lock,
    what needs no database still answers (every transaction takes the write lock, so
    pages that read wait their turn), and a submission waits its turn and is stored."""
    for served in _served(sqlite_instance, tmp_path, "gevent"):
        prepared = _hold_upload(served, "x", 1)
        database = sqlite3.connect(sqlite_instance / "parrhesia.db", isolation_level=None)
        database.execute("BEGIN IMMEDIATE")  # as `parrhesia tick` or a CLI command would
        try:
            prepared.sock.sendall(prepared.rest)  # its storing now waits for the lock
            time.sleep(0.5)
            assert _page_answers(served, timeout=5, path="/static/style.css"), "the worker stopped"
        finally:
            database.execute("ROLLBACK")
            database.close()
        status, page = prepared.answer()
        assert status == 200, page[:300]
