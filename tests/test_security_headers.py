"""Security headers come from the application itself, on every response."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from parrhesia.testing import RegisteredRecipient


@pytest.mark.parametrize("path", ["/", "/submit", "/login", "/report", "/static/style.css", "/nothing-here"])
def test_every_source_response_carries_the_strict_headers(client: FlaskClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp and "base-uri 'none'" in csp
    assert "style-src 'self'" in csp and "form-action 'self'" in csp
    assert "script-src" not in csp and "unsafe-inline" not in csp
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


def test_api_responses_and_errors_carry_the_headers_too(client: FlaskClient, recipient: RegisteredRecipient) -> None:
    for response in (client.get("/api/v1/reports", headers=recipient.headers), client.get("/api/v1/reports")):
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_a_file_sent_to_a_form_without_uploads_is_refused_before_touching_disk(client: FlaskClient) -> None:
    import io

    response = client.post(
        "/login",
        data={"codename": "x", "attachments": (io.BytesIO(b"x" * 600_000), "big.bin")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
