"""The web desk's intake (issue 11 item 1): a recipient files a report for a person
present or on the telephone, sealed in the desk page.

In a real headless Chromium against a real ``parrhesia serve``: the report reaches its
route, and not the officer's own body when that body is the one the conflict rule
excludes (the page said so); the codename on the slip logs in and reads a reply; a
recipient of a receiving body decrypts it; nothing readable is at rest. Then, without a
browser, the new desk routes' authorisation, CSRF and answers to bad input.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import UTC
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from selenium import webdriver
from selenium.webdriver.common.by import By
from server_support import ServedInstance, WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_browser_desk import LOGIN, PASSPHRASE, PASSWORD, _desk_recipient, _text, _wait, browser  # noqa: F401
from test_intake import _at_rest, _desk

from parrhesia.crypto import decrypt_bytes, derive_source_identity, wordlist
from parrhesia.domain import custody
from parrhesia.domain.accounts import utcnow
from parrhesia.domain.reports import find_by_lookup
from parrhesia.ops.demo import DEMO_PLUGINS, DEMO_SETTINGS
from parrhesia.storage.models import BodyKey, Report, SealedKey
from parrhesia.testing import RegisteredRecipient, add_test_recipient, csrf_token

OFFICE, OMBUDSMAN = "integrity-office", "ombudsman"
_browser = [pytest.mark.browser, pytest.mark.server]


def _canary() -> str:
    return "CANARY" + secrets.token_hex(12)


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _log_in(driver: webdriver.Chrome, url: str, secret: str) -> None:
    driver.get(url + "/desk/login")
    driver.find_element(By.ID, "login_name").send_keys(LOGIN)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).at(utcnow().replace(tzinfo=UTC)))
    driver.find_element(By.CSS_SELECTOR, "form[action*='/desk/login'] button[type=submit]").click()
    _wait(driver, lambda d: "/desk/login" not in d.current_url, "the log-in")


def _take_report(driver: webdriver.Chrome, *, implicated: str | None = None, channel: str = "in-person") -> None:
    """Step 1, without script: from the desk's navigation to the page of where it goes."""
    driver.find_element(By.CSS_SELECTOR, "nav.desk-nav a[href$='/desk/intake']").click()
    driver.find_element(By.CSS_SELECTOR, f"input[name=channel][value={channel}]").click()
    if implicated is not None:
        driver.find_element(By.CSS_SELECTOR, f"#f-implicated option[value='{implicated}']").click()
    driver.find_element(By.CSS_SELECTOR, "#intake-route-form button[type=submit]").click()
    _wait(driver, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("data-desk-crypto") == "ready",
          "loading libsodium in the intake page")


def _seal_and_file(driver: webdriver.Chrome, message: str, attachment: Path | None = None) -> tuple[str, str]:
    """Step 2: write, add a file, seal; returns the report id and the codename the slip shows."""
    driver.find_element(By.ID, "intake-message").send_keys(message)
    if attachment is not None:
        driver.find_element(By.ID, "intake-files").send_keys(str(attachment))
    driver.find_element(By.ID, "intake-seal").click()
    _wait(driver, lambda d: d.find_element(By.ID, "slip").is_displayed(), "filing the report and showing the slip")
    codename = driver.find_element(By.ID, "slip-codename").text.strip()
    report_id = driver.find_element(By.ID, "slip-report").text.strip()
    return report_id, codename


def _no_console_problems(driver: webdriver.Chrome) -> None:
    problems = [entry for entry in driver.get_log("browser")
                if (entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"])
                or "Content Security Policy" in entry["message"]]
    assert not problems, problems


def _hide_codename(driver: webdriver.Chrome, codename: str) -> None:
    driver.find_element(By.ID, "slip-hide").click()
    _wait(driver, lambda d: not d.find_elements(By.ID, "slip-codename"), "hiding the codename")
    assert codename not in driver.page_source, "the codename stayed in the page after it was hidden"
    stored = driver.execute_script("return JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert codename not in stored, "the page stored the codename in the browser"
    # The inbox's audit anchor (anchor.js) is the one thing the desk keeps in the browser.
    kept = driver.execute_script("return [Object.keys(localStorage), Object.keys(sessionStorage)]")
    assert [[key for key in kept[0] if key != "parrhesia.audit-head"], kept[1]] == [[], []], stored


def _decrypt_as(app: Flask, reader: RegisteredRecipient, report_id: str) -> dict[str, bytes]:
    """What a recipient of a receiving body reads of the report through the API, on their machine."""
    client = app.test_client()
    key = reader.report_key(client, report_id)
    listing = client.get(f"/api/v1/reports/{report_id}", headers=reader.headers).get_json()
    read = {}
    for part in listing["parts"]:
        blob = client.get(f"/api/v1/reports/{report_id}/parts/{part['id']}", headers=reader.headers).data
        meta, content = decrypt_bytes(blob, key, report_id, part["id"])
        read[str(meta.get("filename") or meta["kind"])] = content
    return read


def _report(app: Flask, report_id: str) -> Report:
    with Session(_engine(app)) as db:
        report = db.get(Report, report_id)
        assert report is not None, "the report the slip names was not stored"
        _ = report.bodies, report.sealed_keys
        db.expunge_all()
        return report


@pytest.mark.browser
@pytest.mark.server
def test_an_officer_files_an_in_person_report_in_the_browser_its_bodies_read_it_and_nothing_is_readable_at_rest(
    app: Flask, browser: webdriver.Chrome, instance_dir: Path, tmp_path: Path, database_url: str,  # noqa: F811
) -> None:
    key_file = tmp_path / "officer.key"
    secret = _desk_recipient(app, key_file)
    ombudsman = add_test_recipient(app, OMBUDSMAN, "Ombudsman reader")
    canary, document = _canary(), _canary()
    scan = tmp_path / f"{document}.pdf"
    scan.write_bytes(b"%PDF-1.4 " + document.encode())
    message = f"The clerk asked for a bribe to stamp the permit: {canary}"
    with ServedInstance(instance_dir, tmp_path / "server") as served:
        _log_in(browser, served.url, secret)
        _take_report(browser)
        assert "intake-own-excluded" not in browser.page_source
        page = _text(browser)
        assert "Integrity Office" in page and "Ombudsman" in page
        browser.find_element(By.ID, "key-file").send_keys(str(key_file))
        browser.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
        # Not yet confirmed: the Ombudsman's key fingerprint; nothing is sealed or sent.
        browser.find_element(By.ID, "intake-message").send_keys(message)
        browser.find_element(By.ID, "intake-seal").click()
        _wait(browser, lambda d: "Confirm the key fingerprint" in d.find_element(By.ID, "intake-status").text,
              "the refusal to seal to an unconfirmed body key")
        with Session(_engine(app)) as db:
            assert db.scalars(select(Report)).all() == []
        browser.find_element(By.ID, "intake-message").clear()
        browser.find_element(By.CSS_SELECTOR, f"input.intake-trust[data-body={OMBUDSMAN}]").click()
        report_id, codename = _seal_and_file(browser, message, scan)
        assert len(codename.split()) == 7 and set(codename.split()) <= set(wordlist()), codename
        assert report_id and served.url in _text(browser), "the slip does not say where to continue"
        assert browser.find_element(By.ID, "passphrase").get_attribute("value") == "", "the passphrase stayed in the page"
        _hide_codename(browser, codename)
        _no_console_problems(browser)
        log = served.log()

    report = _report(app, report_id)
    assert sorted(b.body_id for b in report.bodies if b.role == "route") == [OFFICE, OMBUDSMAN]
    assert (report.intake, report.intake_body) == ("in-person", OFFICE)
    instance = app.extensions["parrhesia.instance"]
    with Session(_engine(app)) as db:
        found = find_by_lookup(db, derive_source_identity(codename, instance.pepper, instance.codename_kdf).lookup_id)
        assert found is not None and found.id == report_id, "the slip's codename does not find the report"

    # A recipient of each receiving body decrypts it on their machine, file name and all.
    officer_reader = add_test_recipient(app, OFFICE, "Colleague")
    for reader in (ombudsman, officer_reader):
        read = _decrypt_as(app, reader, report_id)
        assert read["message"].decode() == message
        assert read[f"{document}.pdf"] == b"%PDF-1.4 " + document.encode()

    needles = [canary.encode(), document.encode(), codename.encode(), PASSPHRASE.encode()]
    found_at_rest = [where for where, data in _at_rest(app, tmp_path, database_url) if any(n in data for n in needles)]
    assert not found_at_rest, f"readable at rest on the server: {found_at_rest}"
    assert not any(n.decode() in log for n in needles), "the server's log holds something readable"


@pytest.mark.browser
@pytest.mark.server
def test_with_the_officers_body_implicated_the_page_says_so_and_the_report_reaches_only_its_route(
    app: Flask, browser: webdriver.Chrome, instance_dir: Path, tmp_path: Path,  # noqa: F811
) -> None:
    key_file = tmp_path / "officer.key"
    secret = _desk_recipient(app, key_file)
    ombudsman = add_test_recipient(app, OMBUDSMAN, "Ombudsman reader")
    canary, answer = _canary(), _canary()
    with ServedInstance(instance_dir, tmp_path / "server") as served:
        _log_in(browser, served.url, secret)
        _take_report(browser, implicated=OFFICE, channel="telephone")
        warning = browser.find_element(By.ID, "intake-own-excluded").text
        assert "Integrity Office" in warning and "Ombudsman" in warning and "you will not be able to read it" in warning
        assert not browser.find_elements(By.ID, "passphrase"), "an excluded body's officer was asked to unlock a key"
        assert not browser.find_elements(By.CSS_SELECTOR, f"input.intake-trust[data-body={OFFICE}]")
        browser.find_element(By.CSS_SELECTOR, f"input.intake-trust[data-body={OMBUDSMAN}]").click()
        report_id, codename = _seal_and_file(browser, canary)
        assert browser.find_element(By.ID, "slip").get_attribute("data-your-body-receives") == "0"
        _hide_codename(browser, codename)
        _no_console_problems(browser)

        # The officer's own inbox does not have it, nor can their desk open it.
        browser.get(served.url + "/desk/")
        assert report_id not in browser.page_source
        browser.get(served.url + f"/desk/reports/{report_id}")
        assert "No such report" in _text(browser)

        # The Ombudsman replies; the person logs in with the slip's codename and reads it.
        client = app.test_client()
        listing = client.get(f"/api/v1/reports/{report_id}", headers=ombudsman.headers).get_json()
        from parrhesia.crypto import decode_public_key, encrypt_bytes

        part_id = secrets.token_hex(16)
        reply = encrypt_bytes(answer.encode(), decode_public_key(listing["public_key"]), report_id, part_id,
                              {"kind": "reply"})
        sent = client.put(f"/api/v1/reports/{report_id}/replies/{part_id}", data=reply, headers=ombudsman.headers,
                          content_type="application/octet-stream")
        assert sent.status_code == 201, sent.data
        person = WebClient(served.url)
        assert person.log_in(codename).status == 200
        seen = person.get("/report").text
        assert canary in seen and answer in seen, "the slip's codename does not read the report and its reply"

    report = _report(app, report_id)
    assert [b.body_id for b in report.bodies if b.role == "route"] == [OMBUDSMAN]
    assert OFFICE in [b.body_id for b in report.bodies if b.role == "excluded"]
    assert report.intake == "telephone"
    with Session(_engine(app)) as db:
        office_keys = set(db.scalars(select(BodyKey.id).where(BodyKey.body_id == OFFICE)))
        sealed = db.scalars(select(SealedKey).where(SealedKey.report_id == report_id)).all()
    assert sealed and not any(k.body_key_id in office_keys for k in sealed), "the excluded body holds the report key"
    assert _decrypt_as(app, ombudsman, report_id)["message"].decode() == canary


# ---------------------------------------------------------------- the routes, without a browser


@pytest.fixture
def officer(app: Flask) -> RegisteredRecipient:
    return add_test_recipient(app, OFFICE, "Intake officer")


def _review(desk: FlaskClient, **fields: str) -> Any:
    token = csrf_token(desk.get("/desk/intake").data)
    return desk.post("/desk/intake", data={"csrf_token": token, **fields})


def test_the_intake_pages_are_for_logged_in_recipients_only(app: Flask, client: FlaskClient) -> None:
    from test_desk_web import add_operator, login

    assert client.get("/desk/intake").status_code == 303
    for path in ("/desk/intake/source", "/desk/intake/reports"):
        assert client.post(path, json={}).status_code in (400, 401)  # no session: no CSRF token either
    assert client.get("/desk/intake/wordlist.json").status_code == 401
    operator = app.test_client()
    assert login(operator, add_operator(app)).status_code == 303
    assert operator.get("/desk/intake").status_code == 403
    assert operator.get("/desk/intake/wordlist.json").status_code == 403
    with Session(_engine(app)) as db:
        assert db.scalars(select(Report)).all() == []


def test_every_intake_form_and_call_needs_its_csrf_token(app: Flask, officer: RegisteredRecipient) -> None:
    desk = _desk(app, officer)
    assert desk.post("/desk/intake", data={"channel": "in-person"}).status_code == 400
    assert desk.post("/desk/intake/source", json={"codename": "a b c"}).status_code == 400
    assert desk.post("/desk/intake/reports", json={}).status_code == 400
    token = csrf_token(desk.get("/desk/intake").data)
    derived = desk.post("/desk/intake/source", json={"codename": "alpha beta gamma"}, headers={"X-CSRFToken": token})
    assert derived.status_code == 200 and derived.get_json()["public_key"].startswith("prh1pk_")


def test_the_review_page_routes_on_the_server_and_says_when_the_officers_body_is_excluded(
    app: Flask, officer: RegisteredRecipient,
) -> None:
    desk = _desk(app, officer)
    own = _review(desk, channel="in-person")
    assert own.status_code == 200
    route = json.loads(re.search(r'data-route="([^"]+)"', own.get_data(as_text=True)).group(1).replace("&#34;", '"'))
    assert route["your_body_receives"] and [k["body"] for k in route["body_keys"]] == [OFFICE, OMBUDSMAN]
    assert b"intake-own-excluded" not in own.data

    excluded = _review(desk, channel="telephone", implicated=OFFICE)
    page = excluded.get_data(as_text=True)
    assert excluded.status_code == 200 and 'id="intake-own-excluded"' in page
    assert "you will not be able to read it" in page
    assert f'data-body="{OFFICE}"' not in page and 'id="passphrase"' not in page
    with Session(_engine(app)) as db:
        office = custody.current_key(db, OFFICE)
        assert office is not None and base64.urlsafe_b64encode(office.public_key).rstrip(b"=").decode() not in page


def test_bad_input_to_the_intake_gets_a_clear_refusal_never_a_500(app: Flask, officer: RegisteredRecipient) -> None:
    desk = _desk(app, officer)
    assert _review(desk, channel="by pigeon").status_code == 400
    bad_answer = _review(desk, channel="in-person", implicated="no-such-body")
    assert bad_answer.status_code == 400 and b"Please check the answer to" in bad_answer.data
    token = csrf_token(desk.get("/desk/intake").data)
    headers = {"X-CSRFToken": token}
    for path, body in [
        ("/desk/intake/source", b"not json"),
        ("/desk/intake/source", json.dumps({"codename": 7}).encode()),
        ("/desk/intake/source", json.dumps({"codename": ""}).encode()),
        ("/desk/intake/reports", b"[1, 2]"),
        ("/desk/intake/reports", json.dumps({"fields": {}, "id": "not-an-id"}).encode()),
        ("/desk/intake/reports", json.dumps({"fields": {"implicated": ["nowhere"]}}).encode()),
        ("/desk/intake/reports", json.dumps({"fields": {}, "id": "ab" * 16, "public_key": "prh1pk_x"}).encode()),
    ]:
        answer = desk.post(path, data=body, headers=headers, content_type="application/json")
        assert 400 <= answer.status_code < 500, (path, body, answer.status_code)
        assert answer.is_json and answer.get_json()["error"], (path, body)
    with Session(_engine(app)) as db:
        assert db.scalars(select(Report)).all() == []


@pytest.mark.parametrize("instance_settings", [{"plugins": DEMO_PLUGINS, "bodies": [], "instance": DEMO_SETTINGS}])
def test_an_officer_of_a_body_in_the_escalation_chain_unlocks_their_keyring_rather_than_confirming_a_fingerprint(
    app: Flask, instance_settings: dict[str, Any],
) -> None:
    # In the demo's routing, a report implicating the Ministry of the Interior goes to the
    # Ombudsman (the only body there with a reader), with the Public Prosecution Service
    # in its escalation chain: the report key is sealed to that body's key too, which its
    # own officer checks against the keyring unlocked in the page (the same rule as
    # `parrhesia desk intake`).
    officer = add_test_recipient(app, "example-prosecutor", "Prosecution officer")
    page = _review(_desk(app, officer), channel="in-person", implicated="example-interior").get_data(as_text=True)
    route = json.loads(re.search(r'data-route="([^"]+)"', page).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert "example-prosecutor" not in [b["id"] for b in route["route"]]
    assert "example-prosecutor" in [b["id"] for b in route["escalation"]] and not route["your_body_receives"]
    assert route["your_body_holds_key"] and "example-prosecutor" in [k["body"] for k in route["body_keys"]]
    assert 'id="passphrase"' in page, "the page asks for no key, yet intake.js needs it to check the own body's key"
    keyring = json.loads(re.search(r'data-keyring="([^"]*)"', page).group(1).replace("&#34;", '"'))  # type: ignore[union-attr]
    assert keyring, "the page holds no keyring to check the own body's key against"
    assert 'data-body="example-prosecutor"' not in page, "the officer was asked to confirm their own body's fingerprint"
