"""Input that no database can store, or that is not what a route expects, gets a clear
4xx with the app's own headers: never a 500 (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from parrhesia.testing import RegisteredRecipient, SubmittedReport, csrf_token


def _clear_refusal(response: Any) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.get_data(as_text=True)[:300])
    assert "default-src 'none'" in response.headers.get("Content-Security-Policy", "")


@pytest.mark.parametrize("path", ["/desk/reports/" + "a" * 31 + "\x00", "/report?x=a\x00b", "/desk/?status=a%00b", "/api/v1/reports/a%00b"])
def test_a_nul_or_a_lone_surrogate_in_the_address_is_refused(client: FlaskClient, path: str) -> None:
    _clear_refusal(client.get(path))


def test_a_nul_in_a_desk_form_field_is_refused(client: FlaskClient) -> None:
    token = csrf_token(client.get("/desk/login").data)
    _clear_refusal(client.post("/desk/login", data={"csrf_token": token, "login_name": "a\x00b",
                                                   "password": "x" * 12, "code": "123456"}))


def test_a_malformed_or_unexpected_json_body_to_a_desk_form_is_refused(client: FlaskClient) -> None:
    _clear_refusal(client.post("/desk/logout", data=b'{"a":', content_type="application/json"))
    _clear_refusal(client.post("/desk/login", json={"login_name": 5, "password": ["x"], "code": {"a": 1}}))


def test_a_lone_surrogate_or_nul_in_a_json_reason_is_refused(
    client: FlaskClient, recipient: RegisteredRecipient, submitted_report: SubmittedReport
) -> None:
    url = f"/api/v1/reports/{submitted_report.id}/recusal"
    for reason in ('"\\ud800 conflict"', '"a\\u0000b"'):
        body = ('{"reason": ' + reason + "}").encode()
        _clear_refusal(client.post(url, data=body, content_type="application/json", headers=recipient.headers))


def test_an_id_beyond_the_databases_integers_is_not_found(client: FlaskClient) -> None:
    _clear_refusal(client.post(f"/desk/body/recipients/{2**63}/deactivate"))


def test_a_submission_page_can_be_posted_only_once_even_with_its_old_cookie(app: Any) -> None:
    """One page, one report: replaying a submitted page — its form token and the session
    cookie it came with — is refused, and stores nothing."""
    import io

    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from parrhesia.storage.models import Report
    from parrhesia.testing import review_route, work_fields

    source = app.test_client()
    review = review_route(source).data
    token, work = csrf_token(review), work_fields(review)
    cookie = source.get_cookie("parrhesia")
    assert cookie is not None

    def post(client: Any) -> Any:
        return client.post("/submit", data={"csrf_token": token, **work, "message": "junk",
                                            "attachments": [(io.BytesIO(b""), "")]},
                           content_type="multipart/form-data")

    first = post(source)
    assert first.status_code == 200 and 'id="codename"' in first.get_data(as_text=True)
    replay = app.test_client()
    replay.set_cookie("parrhesia", cookie.value)
    again = post(replay)
    assert again.status_code == 400 and "sent already" in again.get_data(as_text=True)
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        assert db.scalar(select(func.count()).select_from(Report)) == 1
    # The codename page's own form (log out) still works: it carries a new token.
    assert source.post("/logout", data={"csrf_token": csrf_token(first.data)}).status_code == 303
