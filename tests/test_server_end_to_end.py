"""The whole flow against a real gunicorn server, driven through the command line.

Source submits over HTTP → codename → recipient pulls and decrypts on their machine with
``parrhesia desk pull`` → replies with ``parrhesia desk reply`` → the source logs in with
the codename and reads the reply. Bad input against the served app stores nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import (
    Attachment,
    DeskRecipient,
    ServedInstance,
    WebClient,
    add_reader,
    content_form_fields,
    create_body_key,
    multipart_body,
    register_recipient,
    run_parrhesia,
    session_cookie_payload,
    set_instance_option,
)
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parrhesia.config import load_config
from parrhesia.storage.db import make_engine
from parrhesia.storage.models import Part, Report

pytestmark = pytest.mark.server

PASSPHRASE = "correct horse battery staple for the integrity office"


@pytest.fixture
def recipient(tmp_path: Path, instance_dir: Path) -> DeskRecipient:
    """A key made with ``parrhesia keys generate`` and registered with ``recipients add``
    (no body key yet: the ``served`` fixture has this first member create it)."""
    return register_recipient(instance_dir, "integrity-office", "Case officer", tmp_path / "recipient-machine",
                              PASSPHRASE)


@pytest.fixture
def recipient_files(recipient: DeskRecipient) -> tuple[Path, Path, str]:
    return recipient.key_file, recipient.passphrase_file, recipient.token


@pytest.fixture
def served(instance_dir: Path, tmp_path: Path, recipient: DeskRecipient) -> Iterator[ServedInstance]:
    with ServedInstance(instance_dir, tmp_path / "server") as server:
        # The body's first member makes its body key on their own machine; the
        # ombudsman, on the route too, has a reader of its own.
        create_body_key(server.url, recipient)
        add_reader(server, "ombudsman")
        yield server


def _machine(key: Path) -> dict[str, str]:
    """The recipient machine's own file of trusted keys (never the user's home)."""
    return {"PARRHESIA_KNOWN_KEYS": str(key.parent / "known-keys.json")}


def _pull(server: ServedInstance, token: str, key: Path, passphrase: Path, out: Path) -> tuple[int, str, str]:
    done = run_parrhesia(
        "desk", "pull", "--server", server.url, "--token", token, "--key", str(key),
        "--passphrase-file", str(passphrase), "--out", str(out), env=_machine(key),
    )
    return done.returncode, done.stdout, done.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}


def test_report_travels_from_source_to_recipient_and_the_reply_back(
    served: ServedInstance, recipient_files: tuple[Path, Path, str], tmp_path: Path
) -> None:
    key_file, passphrase_file, token = recipient_files
    message = f"The tender for the bridge was rigged; minutes attached. {secrets.token_hex(4)}"
    minutes = os.urandom(700_000)  # over Werkzeug's spooling threshold
    ledger = "date;amount;payee\n2024-03-01;120000;Müller Bau GmbH\n".encode()
    source = WebClient(served.url)
    response, codename = source.submit(
        message,
        [
            Attachment("Procurement minutes 2024 (draft).pdf", minutes, content_type="application/pdf"),
            Attachment("Kassenbuch-März.csv", ledger, content_type="text/csv"),
        ],
    )
    assert response.status == 200, response.text
    assert codename, "no codename shown after submitting"

    out = tmp_path / "pulled"
    code, stdout, stderr = _pull(served, token, key_file, passphrase_file, out)
    assert code == 0, stderr
    folders = [p for p in out.iterdir() if p.is_dir()]
    assert len(folders) == 1, f"expected one report folder, found {folders}"
    report_id = folders[0].name
    files = _files(folders[0])
    assert files.pop("Procurement minutes 2024 (draft).pdf") == minutes
    assert files.pop("Kassenbuch-März.csv") == ledger
    assert [content.decode("utf-8") for content in files.values()] == [message], f"left over: {sorted(files)}"
    assert "3 new file(s)" in stdout

    code, stdout, stderr = _pull(served, token, key_file, passphrase_file, out)
    assert code == 0, stderr
    assert "0 new file(s)" in stdout
    assert len(_files(folders[0])) == 3

    reply_text = f"Thank you. We have opened a case and will write again. {secrets.token_hex(4)}"
    replied = run_parrhesia(
        "desk", "reply", "--server", served.url, "--token", token, "--report", report_id, "--message", reply_text,
        env=_machine(key_file),
    )
    assert replied.returncode == 0, replied.stderr

    returning = WebClient(served.url)  # a fresh cookie jar: nothing from the first visit
    page = returning.log_in(codename)
    assert page.status == 200 and page.url.endswith("/report"), page.text
    assert reply_text in page.text
    assert message in page.text


def test_pull_with_a_wrong_passphrase_fails_clearly_and_writes_nothing(
    served: ServedInstance, recipient_files: tuple[Path, Path, str], tmp_path: Path
) -> None:
    key_file, _, token = recipient_files
    response, codename = WebClient(served.url).submit("a report the recipient cannot open without the passphrase")
    assert response.status == 200 and codename
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("not the passphrase\n", encoding="utf-8")
    out = tmp_path / "pulled"

    code, stdout, stderr = _pull(served, token, key_file, wrong, out)

    assert code != 0
    assert "passphrase" in (stdout + stderr).lower(), stdout + stderr
    assert "Traceback" not in stderr
    assert not out.exists() or not any(out.rglob("*"))


# --- bad input against the served app -------------------------------------------------


def _stored(instance_dir: Path) -> tuple[int, int, list[Path]]:
    config = load_config(instance_dir)
    engine = make_engine(config.database_url)
    try:
        with Session(engine) as db:
            reports = db.scalar(select(func.count()).select_from(Report)) or 0
            parts = db.scalar(select(func.count()).select_from(Part)) or 0
    finally:
        engine.dispose()
    blobs = config.blob_dir
    return reports, parts, sorted(p for p in blobs.rglob("*") if p != blobs / ".tmp")


@pytest.fixture
def small_limit_server(instance_dir: Path, tmp_path: Path) -> Iterator[ServedInstance]:
    set_instance_option(instance_dir, "max_submission_bytes", 200_000)
    with ServedInstance(instance_dir, tmp_path / "server") as server:
        for body_id in ("integrity-office", "ombudsman"):  # readers holding the route's body keys
            add_reader(server, body_id)
        yield server


def test_bad_input_gets_clear_errors_and_stores_nothing(small_limit_server: ServedInstance, instance_dir: Path) -> None:
    served = small_limit_server
    source = WebClient(served.url)
    big = Attachment("too-big.bin", os.urandom(600_000))

    declared, _ = source.submit("over the limit, declared up front", [big])
    assert declared.status == 413
    assert "larger than this instance accepts" in declared.text and "Nothing was stored" in declared.text
    assert declared.header_values("Content-Security-Policy"), "the error page lacks the app's headers"

    # Without Content-Length (chunked) a body could be bounded neither in size up front
    # nor in time (the idle and minimum-rate bounds): it is refused before it is read.
    streamed, _ = source.submit("sent without a length", [big], chunked=True)
    assert streamed.status == 411
    assert "not sent as expected" in streamed.text

    token = source.csrf_token("/submit")
    fields = [("message", "no token at all")]
    missing = source.post_multipart("/submit", fields, [Attachment("a.txt", b"a")])
    assert missing.status == 400
    assert "expired or was not sent from this site" in missing.text
    forged = source.post_multipart("/submit", [("csrf_token", token[::-1]), *fields], [Attachment("a.txt", b"a")])
    assert forged.status == 400
    assert "expired or was not sent from this site" in forged.text

    assert _stored(instance_dir) == (0, 0, []), "a refused submission left something behind"
    assert not any((instance_dir / "blobs" / ".tmp").iterdir())

    stranger = WebClient(served.url)
    login = stranger.log_in("abacus abbey abdomen ability ablaze able aboard")
    assert login.status == 403
    assert "codename was not recognised" in login.text
    sessions = [session_cookie_payload(c) for c in stranger.set_cookies if c.startswith("parrhesia=")]
    assert not any(b'"source"' in payload for payload in sessions), "a wrong codename started a session"
    assert stranger.get("/report").url.endswith("/login")


def test_an_upload_and_the_next_request_share_one_kept_alive_connection(served: ServedInstance) -> None:
    # Gunicorn reads the next request on the connection where our upload path, which
    # read the body from the socket itself, told it the body ended.
    import http.client
    import urllib.parse

    client = WebClient(served.url)
    review = client.post_form("/submit/review", {"csrf_token": client.csrf_token("/submit")})
    fields = content_form_fields(review.text)
    boundary = "keepalive" + secrets.token_hex(8)
    content = os.urandom(3 * 1024 * 1024 + 11)
    body = b"".join(multipart_body(boundary, [*fields, ("message", "kept alive")], [Attachment("k.bin", content)]))
    url = urllib.parse.urlsplit(served.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    try:
        connection.request("POST", "/submit", body=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Cookie": client._cookie_header(served.url + "/submit"),
        })
        first = connection.getresponse()
        assert first.status == 200 and b'id="codename"' in first.read()
        sock = connection.sock
        connection.request("GET", "/")
        second = connection.getresponse()
        assert second.status == 200 and second.read().rstrip().endswith(b"</html>")
        assert connection.sock is sock  # the same connection, not a new one
    finally:
        connection.close()
