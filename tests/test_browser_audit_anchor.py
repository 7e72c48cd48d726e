"""The browser desk's audit anchor in a real browser: the inbox remembers the audit head
in this browser, says so while the log extends it, warns when the log was cut below it
(keeping the signed statement), and remembers the log anew only when told to."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from selenium import webdriver
from selenium.webdriver.common.by import By
from server_support import ServedInstance, WebClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from test_browser_desk import LOGIN, PASSWORD, _desk_recipient, _wait, browser  # noqa: F401

from parrhesia.domain.accounts import utcnow
from parrhesia.storage.models import AuditEntry

pytestmark = [pytest.mark.browser, pytest.mark.server]


def _state(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.ID, "audit-anchor").get_attribute("data-state") or ""


def _inbox(driver: webdriver.Chrome, url: str, expected: str) -> str:
    driver.get(url + "/desk/")
    _wait(driver, lambda d: _state(d) == expected, f"the audit anchor saying {expected!r}")
    return driver.find_element(By.ID, "audit-anchor-status").text


def test_the_inbox_remembers_the_head_and_warns_when_the_log_is_cut(
    app: Flask, browser: webdriver.Chrome, instance_dir: Path, tmp_path: Path  # noqa: F811
) -> None:
    secret = _desk_recipient(app, tmp_path / "officer.key")
    engine = app.extensions["parrhesia.instance"].engine
    with ServedInstance(instance_dir, tmp_path / "server") as served:
        assert WebClient(served.url).submit("The permits were sold.")[1]
        browser.get(served.url + "/desk/login")
        browser.find_element(By.ID, "login_name").send_keys(LOGIN)
        browser.find_element(By.ID, "password").send_keys(PASSWORD)
        browser.find_element(By.ID, "code").send_keys(pyotp.TOTP(secret).at(utcnow().replace(tzinfo=UTC)))
        browser.find_element(By.CSS_SELECTOR, "form[action*='/desk/login'] button[type=submit]").click()
        _wait(browser, lambda d: _state(d) == "first", "the first look at the audit log")
        remembered = json.loads(browser.execute_script("return localStorage.getItem('parrhesia.audit-head')"))
        with Session(engine) as db:
            head = db.scalar(select(func.max(AuditEntry.seq)))
        assert int(remembered["seq"]) == head

        # Opening a report writes entries: the log grows, and extends the head remembered.
        browser.get(served.url + "/desk/")
        browser.find_element(By.CSS_SELECTOR, "table.inbox a[href*='/desk/reports/']").click()
        text = _inbox(browser, served.url, "extends")
        assert f"intact from entry {remembered['seq']}" in text
        now = json.loads(browser.execute_script("return localStorage.getItem('parrhesia.audit-head')"))
        assert int(now["seq"]) > int(remembered["seq"])

        with Session(engine) as db:  # the operator cuts the newest entries
            db.execute(delete(AuditEntry).where(AuditEntry.seq >= int(now["seq"])))
            db.commit()
        text = _inbox(browser, served.url, "cut")
        assert f"entry {now['seq']}" in text and "is gone" in text
        assert "warning" in (browser.find_element(By.ID, "audit-anchor").get_attribute("class") or "")
        kept = json.loads(browser.execute_script("return localStorage.getItem('parrhesia.audit-conflicts')"))
        assert len(kept) == 1 and "since: " + now["seq"] + " missing" in kept[0]["statement"]
        assert json.loads(browser.execute_script("return localStorage.getItem('parrhesia.audit-head')")) == now

        # Only when told to, the browser remembers the log as it is now.
        browser.find_element(By.ID, "audit-anchor-accept").click()
        browser.switch_to.alert.accept()
        _wait(browser, lambda d: _state(d) == "first", "remembering the log anew")
        _inbox(browser, served.url, "extends")
