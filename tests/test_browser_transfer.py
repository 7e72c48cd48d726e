"""A transfer from the web desk to a body outside the escalation chain, sealed in the
browser: the server never holds the report key, yet the body that receives the report
reads it."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from server_support import ServedInstance, WebClient
from test_browser_desk import LOGIN, PASSPHRASE, PASSWORD, _desk_recipient, _text, _wait, browser  # noqa: F401

from parrhesia.domain.accounts import utcnow
from parrhesia.testing import TEST_BODIES, add_test_recipient

pytestmark = [pytest.mark.browser, pytest.mark.server]

AUDITOR = {"id": "audit-office", "name": "Audit Office", "kind": "audit institution"}


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    # The audit office is neither on the route nor on the escalation chain.
    return {"bodies": [*TEST_BODIES, AUDITOR],
            "instance": {"route": ["integrity-office", "ombudsman"], "last_resort": ["ombudsman"]}}


def test_a_transfer_outside_the_chain_is_sealed_in_the_browser_and_the_new_body_reads_it(
    app: Flask, browser: webdriver.Chrome, instance_dir: Path, tmp_path: Path  # noqa: F811
) -> None:
    key_file = tmp_path / "officer.key"
    secret = _desk_recipient(app, key_file)
    message = "The procurement file was rewritten after the award."
    with ServedInstance(instance_dir, tmp_path / "server") as served:
        _, codename = WebClient(served.url).submit(message)
        assert codename
        # The audit office's first member creates its key only now, after submission.
        auditor = add_test_recipient(app, "audit-office", "Auditor")

        browser.get(served.url + "/desk/login")
        browser.find_element(By.ID, "login_name").send_keys(LOGIN)
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).at(utcnow().replace(tzinfo=UTC)))
        browser.find_element(By.CSS_SELECTOR, "form[action*='/desk/login'] button[type=submit]").click()
        _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "table.inbox a[href*='/desk/reports/']"), "the inbox")
        report_url = browser.find_element(By.CSS_SELECTOR, "table.inbox a[href*='/desk/reports/']").get_attribute("href")
        report_id = report_url.rstrip("/").rsplit("/", 1)[-1]
        browser.get(report_url)
        _wait(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("data-desk-crypto") == "ready",
              "loading libsodium in the page")
        browser.find_element(By.ID, "key-file").send_keys(str(key_file))
        browser.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
        browser.find_element(By.ID, "unlock").click()
        _wait(browser, lambda d: message in d.find_element(By.ID, "decrypted").text, "decryption in the browser")

        browser.execute_script("document.querySelectorAll('details').forEach(function (d) { d.open = true; });")
        Select(browser.find_element(By.ID, "transfer-target")).select_by_value("audit-office")
        _wait(browser, lambda d: d.find_element(By.ID, "transfer-sealed-key").get_attribute("value"),
              "sealing the report key to the audit office's key")
        browser.find_element(By.ID, "transfer-reason").send_keys("audit matter")
        browser.find_element(By.CSS_SELECTOR, "form[action$='/transfer'] button[type=submit]").click()
        _wait(browser, lambda d: "transferred to Audit Office" in _text(d), "the transfer")

    client = app.test_client()
    key = auditor.report_key(client, report_id)
    listing = client.get(f"/api/v1/reports/{report_id}", headers=auditor.headers).get_json()
    assert "audit-office" in listing["route"]
    from parrhesia.crypto import decrypt_bytes

    part = next(p for p in listing["parts"] if p["kind"] == "message")
    blob = client.get(f"/api/v1/reports/{report_id}/parts/{part['id']}", headers=auditor.headers).data
    assert decrypt_bytes(blob, key, report_id, part["id"])[1].decode() == message
