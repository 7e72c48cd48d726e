"""A recipient in a real browser WITH JavaScript: log-in with TOTP, decryption in the
browser, a reply sealed in the browser; then the source reads the reply.

Against a real ``parrhesia serve``; the libsodium the page loads is the one pinned in
themes/default/js/package-lock.json and installed by ``make`` (``npm ci``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from server_support import ServedInstance, WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.crypto import wrap_private_key
from parrhesia.domain.accounts import utcnow
from parrhesia.storage.models import AuditEntry, Recipient
from parrhesia.testing import add_test_recipient

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
VENDOR = Path(__file__).resolve().parents[1] / "themes" / "default" / "static" / "vendor"
LOGIN = "case-officer"
PASSWORD = "a long desk password for the browser"
PASSPHRASE = "the key file passphrase, typed only in the browser"
WAIT = 60


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(f"the browser test needs {missing}: run `make browser` (apt-get install chromium chromium-driver)")
    if not (VENDOR / "libsodium-wrappers.js").is_file():
        pytest.fail("the desk's libsodium is not built: run `make` (npm ci in themes/default/js)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.fail(f"headless chromium could not be started: {exc.msg}")
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _text(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait(driver: webdriver.Chrome, condition: object, what: str) -> None:
    try:
        # The page may be replaced while the condition reads it (a reload after a reply).
        WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(condition)  # type: ignore[arg-type]
    except TimeoutException:
        pytest.fail(f"{what} did not happen; the page at {driver.current_url} said:\n{_text(driver)}\n"
                    f"console: {driver.get_log('browser')}")


def _desk_recipient(app: Flask, key_file: Path) -> str:
    """A recipient of the integrity office with a desk log-in (TOTP enrolled) and a key file,
    vouched for by the body's standing reader (the browser opens the body key through that grant)."""
    registered = add_test_recipient(app, "integrity-office", "Case officer", login_name=LOGIN, password=PASSWORD)
    # the default, realistic Argon2id cost
    key_file.write_bytes(wrap_private_key(registered.key, PASSPHRASE.encode()))
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        recipient = db.scalar(select(Recipient).where(Recipient.login_name == LOGIN))
        recipient.totp_last_step = 0  # enrolled earlier (enrolment has its own test)
        db.commit()
        return recipient.totp_secret or ""


def test_recipient_decrypts_in_the_browser_and_replies_and_the_source_reads_it(
    app: Flask, browser: webdriver.Chrome, instance_dir: Path, tmp_path: Path
) -> None:
    key_file = tmp_path / "officer.key"
    secret = _desk_recipient(app, key_file)
    message = "The tender for the new hospital was written for one bidder; the minister's cousin owns it."
    reply = "Thank you. We have opened an investigation — please keep your codename safe."

    with ServedInstance(instance_dir, tmp_path / "server") as served:
        source = WebClient(served.url)
        _, codename = source.submit(message)
        assert codename, "the source did not get a codename"

        browser.get(served.url + "/desk/login")
        browser.find_element(By.ID, "login_name").send_keys(LOGIN)
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        code = pyotp.TOTP(secret).at(utcnow().replace(tzinfo=UTC))
        browser.find_element(By.ID, "code").send_keys(code)
        browser.find_element(By.CSS_SELECTOR, "form[action*='/desk/login'] button[type=submit]").click()
        _wait(browser, expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "table.inbox")), "the inbox")
        assert "New" in _text(browser), "the new report has no unread marker"

        browser.find_element(By.CSS_SELECTOR, "table.inbox a[href*='/desk/reports/']").click()
        _wait(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("data-desk-crypto") == "ready",
              "loading libsodium in the page")
        assert message not in _text(browser), "the server sent plaintext"
        browser.find_element(By.ID, "key-file").send_keys(str(key_file))
        browser.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
        browser.find_element(By.ID, "unlock").click()
        _wait(browser, lambda d: message in d.find_element(By.ID, "decrypted").text, "decryption in the browser")
        assert browser.find_element(By.ID, "passphrase").get_attribute("value") == "", "the passphrase stayed in the page"

        browser.find_element(By.ID, "reply-text").send_keys(reply)
        browser.find_element(By.CSS_SELECTOR, "#reply-form button[type=submit]").click()
        _wait(browser, lambda d: "sealed in your browser" in _text(d), "the reply sealed in the browser")

        problems = [entry for entry in browser.get_log("browser")
                    if (entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"])
                    or "Content Security Policy" in entry["message"]]
        assert not problems, problems

        # The source logs in with the codename and reads the reply.
        assert source.log_in(codename).status == 200
        assert reply in source.get("/report").text, "the source cannot read the reply sealed in the browser"

    with Session(app.extensions["parrhesia.instance"].engine) as db:
        recorded = [(e.action, e.detail) for e in db.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    actions = [a for a, _ in recorded]
    assert {"login", "open", "download", "reply"} <= set(actions)
    assert all(PASSPHRASE not in detail and message not in detail and reply not in detail for _, detail in recorded)
    assert PASSPHRASE not in served.log() and code not in served.log()
