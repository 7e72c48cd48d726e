"""Nothing readable at rest: a canary sent by a source is found nowhere on the server.

A unique random string goes into the message, an attachment's name and the attachment's
content. Afterwards — and also while a slow upload is still arriving — every byte of the
test's folder is searched: the instance (blobs, secrets, config), the SQLite database
with its WAL and shared-memory files, the server's log and the TMPDIR it was given.
On PostgreSQL every table of the test's schema is dumped and searched as well.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import (
    Attachment,
    ServedInstance,
    WebClient,
    add_reader,
    files_containing,
    session_cookie_payload,
)
from sqlalchemy import text

from parrhesia.storage.db import make_engine

pytestmark = pytest.mark.server


@pytest.fixture
def served(instance_dir: Path, tmp_path: Path) -> Iterator[ServedInstance]:
    with ServedInstance(instance_dir, tmp_path / "server", access_log=True) as server:
        for body_id in ("integrity-office", "ombudsman"):  # readers holding the route's body keys
            add_reader(server, body_id)
        yield server


def _canary() -> str:
    return "CANARY" + secrets.token_hex(16)


def _searched_roots(tmp_path: Path, served: ServedInstance, database_url: str) -> list[Path]:
    """Everything the server could have written: all of the test's folder."""
    roots = [tmp_path]
    if database_url.startswith("sqlite"):
        database = Path(database_url.removeprefix("sqlite:///"))
        assert database.is_file() and database.is_relative_to(tmp_path)
    for inside in (served.instance_dir, served.tmpdir, served.log_path):
        assert inside.is_relative_to(tmp_path) and inside.exists()
    return roots


def _database_dump(database_url: str) -> str:
    """Every row of every table in the test's PostgreSQL schema, as JSON text."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            tables = connection.scalars(
                text("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
            ).all()
            assert "reports" in tables and "parts" in tables, tables
            rows = [
                row
                for table in tables
                for row in connection.scalars(text(f'SELECT row_to_json(t)::text FROM "{table}" t'))  # noqa: S608
            ]
    finally:
        engine.dispose()
    assert rows, "the dump found no rows at all"
    return "\n".join(rows)


def _assert_nowhere(needles: list[bytes], tmp_path: Path, served: ServedInstance, database_url: str) -> None:
    found = files_containing(needles, _searched_roots(tmp_path, served, database_url))
    assert not found, f"found in plaintext at rest: {found}"
    if database_url.startswith("postgresql"):
        dump = _database_dump(database_url)
        for needle in needles:
            # bytea columns appear as hex in JSON; text columns as themselves.
            assert needle.decode() not in dump and needle.hex() not in dump, "found in a PostgreSQL table"


def test_canary_in_message_filename_and_content_is_nowhere_at_rest(
    served: ServedInstance, tmp_path: Path, database_url: str
) -> None:
    canary = _canary()
    content = os.urandom(300_000) + f"begin {canary} end".encode() + os.urandom(300_000)
    source = WebClient(served.url)
    response, codename = source.submit(
        f"Meeting notes, keyword {canary}, please read.",
        [Attachment(f"notes-{canary}.txt", content, content_type="text/plain")],
    )
    assert response.status == 200 and codename
    assert canary not in "".join(source.set_cookies)

    returning = WebClient(served.url)
    page = returning.log_in(codename)
    assert page.status == 200 and canary in page.text, "the report cannot be read back, so the search proves nothing"
    served.stop()  # flush and close everything the server holds, then look

    _assert_nowhere([canary.encode()], tmp_path, served, database_url)
    assert f"notes-{canary}".encode() not in served.log_path.read_bytes()

    # The search itself must be able to fail: a canary planted across a read boundary is found.
    planted = served.tmpdir / "planted"
    planted.write_bytes(b"x" * (4 * 1024 * 1024 - 10) + canary.encode())
    assert files_containing([canary.encode()], [tmp_path]) == [(planted, canary.encode())]


def test_codename_is_never_logged_stored_or_put_in_a_cookie(
    served: ServedInstance, tmp_path: Path, database_url: str
) -> None:
    source = WebClient(served.url)
    response, codename = source.submit("a report whose codename must leave no trace")
    assert response.status == 200 and codename
    returning = WebClient(served.url)
    assert returning.log_in(codename).status == 200
    assert returning.log_in(codename.upper()).status == 200  # a second login, typed differently
    served.stop()

    cookies = source.set_cookies + returning.set_cookies
    payloads = [session_cookie_payload(c) for c in cookies if c.startswith("parrhesia=")]
    assert any(b'"source"' in p for p in payloads), "no session cookie was decoded, so this checks nothing"
    for header in cookies:
        assert codename not in header
    for payload in payloads:
        assert codename.encode() not in payload
    words = codename.split()
    needles = [codename.encode(), " ".join(words[:3]).encode(), "-".join(words).encode(), "+".join(words).encode()]
    _assert_nowhere(needles, tmp_path, served, database_url)
    log = served.log()
    assert '"POST /login" 200' in log or '"POST /login" 303' in log, "the access log is off, so it proves nothing"
    assert "127.0.0.1" not in log


def test_slow_upload_leaves_no_plaintext_while_it_is_still_arriving(
    served: ServedInstance, tmp_path: Path, database_url: str
) -> None:
    canary = _canary()
    # Over 2 MB, so Werkzeug's own parser would have spooled it to a temporary file.
    block = os.urandom(64 * 1024)
    content = (f"start {canary} ".encode() + block * 96)[: 6 * 1024 * 1024]
    content = content[:-len(canary) - 8] + f" {canary} end".encode()
    pending = served.instance_dir / "blobs" / ".tmp"
    checked: list[int] = []

    def search_while_open() -> None:
        # The server reads in 1 MiB steps; wait until it has encrypted well into the file,
        # so that what is searched is an upload genuinely in progress.
        deadline = time.monotonic() + 20
        while sum(p.stat().st_size for p in pending.glob("*.part")) < 1024 * 1024:
            assert time.monotonic() < deadline, f"the server wrote no pending ciphertext: {list(pending.iterdir())}"
            time.sleep(0.05)
        assert served.process is not None and served.process.poll() is None
        _assert_nowhere([canary.encode()], tmp_path, served, database_url)
        checked.append(len(list(pending.glob("*.part"))))

    source = WebClient(served.url)
    message = f"slow upload, keyword {canary}"
    response, codename = source.submit(
        message,
        [Attachment(f"evidence-{canary}.bin", content)],
        pause_after=3 * 1024 * 1024 + 512,
        on_pause=search_while_open,
    )

    assert checked == [2], "the message and the file should both be pending while the upload arrives"
    assert response.status == 200 and codename, response.text
    assert not any(pending.iterdir()), "pending blobs were left behind after the upload finished"
    _assert_nowhere([canary.encode()], tmp_path, served, database_url)
