"""Uploads are parsed and encrypted as they stream in; bad ones store nothing."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.formparser import parse_form_data
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from parrhesia.storage.models import Part, Report
from parrhesia.testing import add_test_recipient, csrf_token, review_route, submit_report, work_fields


def _stored(app: Flask) -> tuple[int, int, list[Path]]:
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        reports = db.scalar(select(func.count()).select_from(Report)) or 0
        parts = db.scalar(select(func.count()).select_from(Part)) or 0
    files = [p for p in instance.blobs.root.rglob("*") if p.is_file()]
    return reports, parts, files


def _multipart(boundary: str, fields: list[tuple[str, str | None, bytes]]) -> bytes:
    body = b""
    for name, filename, value in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


BIG = bytes(range(256)) * 8000  # 2 MB, well over Werkzeug's 500 KB spooling threshold
SPOOLERS = ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile")


@pytest.fixture
def spooled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every attempt to put an upload in a temporary file, refused and recorded.

    werkzeug.formparser binds ``SpooledTemporaryFile`` at import (``from tempfile
    import ...``), and its ``default_stream_factory`` looks the name up there: patching
    the tempfile module alone never reaches Werkzeug's form parser, so the name is
    replaced where Werkzeug looks it up (``raising=True``: if Werkzeug renames it, this
    fixture fails instead of guarding nothing). The tempfile names are replaced too, for
    code that looks them up at call time. Attempts are recorded as well as refused, so
    one whose error something catches still fails the test.
    """
    import tempfile

    import werkzeug.formparser

    attempts: list[str] = []

    def refuse(where: str) -> Callable[..., NoReturn]:
        def spool(*args: object, **kwargs: object) -> NoReturn:
            attempts.append(where)
            raise AssertionError(f"an upload went to a temporary file through {where}")

        return spool

    monkeypatch.setattr(werkzeug.formparser, "SpooledTemporaryFile", refuse("werkzeug.formparser.SpooledTemporaryFile"))
    for name in SPOOLERS:
        monkeypatch.setattr(tempfile, name, refuse(f"tempfile.{name}"))
    return attempts


def test_large_attachment_is_encrypted_without_a_plaintext_spool(app: Flask, client: FlaskClient, spooled: list[str]) -> None:
    response, codename = submit_report(client, "see file", [("big.bin", BIG)])
    assert not spooled, f"the upload went through Werkzeug's temporary-file spooling: {spooled}"
    assert response.status_code == 200 and codename
    reports, parts, files = _stored(app)
    assert (reports, parts, len(files)) == (1, 2, 2)
    for blob in files:
        assert BIG[:4096] not in blob.read_bytes()


def _werkzeug_request_files(environ: dict[str, Any]) -> object:
    return Request(environ).files  # Werkzeug's own Request, not the app's ParrhesiaRequest


def _werkzeug_parse_form_data(environ: dict[str, Any]) -> object:
    return parse_form_data(environ)


@pytest.mark.parametrize("parse", [_werkzeug_request_files, _werkzeug_parse_form_data])
def test_the_spool_guard_sees_werkzeug_spool_an_upload(spooled: list[str], parse: Callable[[dict[str, Any]], object]) -> None:
    """The guard is live: Werkzeug's own form parser, given a large upload, is caught.

    Should Werkzeug look its temporary files up elsewhere one day, this goes red instead
    of the guard passing without guarding.
    """
    body = _multipart("spoolBOUNDARY", [("attachments", "big.bin", BIG)])
    content_type = "multipart/form-data; boundary=spoolBOUNDARY"
    builder = EnvironBuilder(method="POST", input_stream=io.BytesIO(body), content_type=content_type, content_length=len(body))
    environ = builder.get_environ()
    with pytest.raises(AssertionError, match="temporary file"):
        parse(environ)
    assert spooled == ["werkzeug.formparser.SpooledTemporaryFile"]


def test_several_attachments_in_one_submission(app: Flask, client: FlaskClient) -> None:
    response, _ = submit_report(client, "three files", [("a.txt", b"a"), ("b.txt", b"b"), ("c.txt", b"c")])
    assert response.status_code == 200
    assert _stored(app)[:2] == (1, 4)


@pytest.fixture
def small_limit_app(instance_dir: Path) -> Flask:
    config = instance_dir / "parrhesia.toml"
    config.write_text(config.read_text().replace("max_submission_bytes = 500000000", "max_submission_bytes = 100000"))
    from parrhesia.web.app import create_app

    app = create_app(instance_dir, {"TESTING": True})
    for body_id in ("integrity-office", "ombudsman"):  # readers holding the body keys, as the app fixture has
        add_test_recipient(app, body_id, "Standing reader")
    return app


def _work(client: FlaskClient) -> tuple[str, None, bytes]:
    """The content form's work challenge, as the field the form sends after its CSRF token."""
    return ("work_challenge", None, work_fields(review_route(client).data)["work_challenge"].encode())


def _post_streamed(client: FlaskClient, body: bytes, boundary: str) -> object:
    """Post without Content-Length, as a chunked upload arrives."""
    return client.post(
        "/submit",
        input_stream=io.BytesIO(body),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_submission_over_the_limit_is_refused_while_streaming_and_stores_nothing(small_limit_app: Flask) -> None:
    app = small_limit_app
    client = app.test_client()
    token = csrf_token(client.get("/submit").data)
    boundary = "xyzBOUNDARY"
    body = _multipart(boundary, [("csrf_token", None, token.encode()), _work(client), ("attachments", "big.bin", b"x" * 300_000)])
    # Without Content-Length (chunked), the limit can only be enforced while reading.
    response = _post_streamed(client, body, boundary)
    assert response.status_code == 413
    assert "larger than this instance accepts" in response.get_data(as_text=True)
    assert _stored(app) == (0, 0, [])
    # With a Content-Length, it is refused before reading.
    response = client.post("/submit", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 413
    assert _stored(app) == (0, 0, [])
    # Under the limit, the same instance accepts it.
    small = _multipart(boundary, [("csrf_token", None, token.encode()), _work(client), ("attachments", "ok.bin", b"x" * 50_000)])
    assert _post_streamed(client, small, boundary).status_code == 200
    assert _stored(app)[:2] == (1, 1)


def test_interrupted_upload_stores_nothing(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client.get("/submit").data)
    boundary = "cutBOUNDARY"
    body = _multipart(boundary, [("csrf_token", None, token.encode()), _work(client), ("attachments", "a.bin", b"y" * 200_000)])
    truncated = body[: len(body) // 2]
    response = _post_streamed(client, truncated, boundary)
    assert response.status_code == 400
    assert "interrupted" in response.get_data(as_text=True)
    assert _stored(app) == (0, 0, [])


def test_csrf_token_must_come_before_any_content(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client.get("/submit").data)
    boundary = "orderBOUNDARY"
    body = _multipart(boundary, [("message", None, b"secret first"), ("csrf_token", None, token.encode())])
    response = client.post("/submit", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    assert _stored(app) == (0, 0, [])


def test_wrong_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    client.get("/submit")
    boundary = "badBOUNDARY"
    body = _multipart(boundary, [("csrf_token", None, b"forged"), ("message", None, b"x")])
    response = client.post("/submit", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 400
    assert _stored(app) == (0, 0, [])


def test_not_multipart_is_refused_clearly(app: Flask, client: FlaskClient) -> None:
    response = client.post("/submit", data={"message": "x"})
    assert response.status_code == 400
    assert "not sent as expected" in response.get_data(as_text=True)


def test_empty_file_inputs_are_ignored(app: Flask, client: FlaskClient) -> None:
    token = csrf_token(client.get("/submit").data)
    boundary = "emptyBOUNDARY"
    body = _multipart(
        boundary, [("csrf_token", None, token.encode()), _work(client), ("message", None, b"only text"),
                   ("attachments", "", b"")]
    )
    response = client.post("/submit", data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert response.status_code == 200
    assert _stored(app)[:2] == (1, 1)


def test_database_failure_discards_the_blobs(app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.orm import Session as OrmSession

    def broken_commit(self: OrmSession) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(OrmSession, "commit", broken_commit)
    response, codename = submit_report(client, "will fail", [("a.txt", b"a")])
    monkeypatch.undo()
    assert response.status_code == 500
    assert codename is None
    assert "Nothing you sent was stored" in response.get_data(as_text=True)
    assert _stored(app) == (0, 0, [])
