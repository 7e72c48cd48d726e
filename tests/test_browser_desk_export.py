"""The web desk's evidence button (issue 11 item 3), in a real headless Chromium against
a real ``parrhesia serve``: after decrypting a report in the page, the recipient leaves
out one attachment with a reason and downloads the package; the ZIP the browser saved
verifies with ``parrhesia evidence verify`` (pinned to the evidence key the page shows),
records the omission and its reason, holds no trace of what was left out, and fails
verification once a byte of it is changed. Nothing decrypted reached the server."""

from __future__ import annotations

import json
import secrets
import time
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select
from server_support import Attachment, ServedInstance, WebClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from test_browser_desk import PASSPHRASE, _desk_recipient, _text, _wait, browser  # noqa: F401
from test_browser_desk_intake import _log_in, _no_console_problems
from test_intake import _at_rest

from parrhesia.cli import main
from parrhesia.crypto import unwrap_private_key
from parrhesia.crypto.evidence import encode_verify_key, evidence_signing_key
from parrhesia.storage.models import AuditEntry, Report

WAIT = 60


def _downloaded(folder: Path) -> Path:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done = [p for p in folder.glob("*.zip") if p.is_file()]
        if done and not list(folder.glob("*.crdownload")):
            return done[0]
        time.sleep(0.2)
    pytest.fail(f"the browser saved no package in {folder}: {list(folder.iterdir())}")


@pytest.mark.browser
@pytest.mark.server
def test_the_desk_button_saves_a_package_that_verifies_and_records_what_was_left_out(
    app: Flask, browser: webdriver.Chrome, instance_dir: Path, tmp_path: Path, database_url: str,  # noqa: F811
) -> None:
    key_file = tmp_path / "officer.key"
    secret = _desk_recipient(app, key_file)
    message, kept, left_out = (f"CANARY{secrets.token_hex(8)}-{what}" for what in ("message", "kept", "left-out"))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with ServedInstance(instance_dir, tmp_path / "server") as served:
        _, codename = WebClient(served.url).submit(message, [
            Attachment("invoice.pdf", f"%PDF-1.4 {kept}".encode()),
            Attachment("witnesses.txt", f"names: {left_out}".encode()),
        ])
        assert codename
        with Session(app.extensions["parrhesia.instance"].engine) as db:
            report_id = db.scalars(select(Report.id)).one()

        _log_in(browser, served.url, secret)
        browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        browser.get(f"{served.url}/desk/reports/{report_id}")
        _wait(browser, lambda d: d.find_element(By.TAG_NAME, "html").get_attribute("data-desk-crypto") == "ready",
              "loading libsodium in the page")
        assert not browser.find_element(By.ID, "evidence").is_displayed(), "offered before anything was decrypted"
        browser.find_element(By.ID, "key-file").send_keys(str(key_file))
        browser.find_element(By.ID, "passphrase").send_keys(PASSPHRASE)
        browser.find_element(By.ID, "unlock").click()
        _wait(browser, lambda d: d.find_element(By.ID, "evidence").is_displayed(), "the evidence package offered")

        rows = {row.find_element(By.TAG_NAME, "label").text: row
                for row in browser.find_elements(By.CSS_SELECTOR, "#evidence-parts li")}
        assert set(rows) >= {"invoice.pdf", "witnesses.txt"}, list(rows)
        Select(rows["witnesses.txt"].find_element(By.CSS_SELECTOR, "select")).select_by_value("omitted")
        # Without a reason nothing is built.
        browser.find_element(By.ID, "evidence-export").click()
        _wait(browser, lambda d: "Give the reason" in d.find_element(By.ID, "evidence-status").text,
              "the refusal without a reason")
        assert not list(downloads.iterdir())
        rows["witnesses.txt"].find_element(By.CSS_SELECTOR, "input[type=text]").send_keys("names third parties")
        browser.find_element(By.ID, "evidence-name").send_keys("Inspector Vale")
        browser.find_element(By.ID, "evidence-export").click()
        saved = _downloaded(downloads)
        shown_key = browser.find_element(By.ID, "evidence-verify-key").text.strip()
        _no_console_problems(browser)
        log = served.log()

    # The key the page signed with is the recipient's evidence key, as the command line derives it.
    recipient_key = unwrap_private_key(key_file.read_bytes(), PASSPHRASE.encode())
    assert shown_key == encode_verify_key(bytes(evidence_signing_key(recipient_key).verify_key))
    checked = CliRunner().invoke(main, ["evidence", "verify", str(saved), "--key", shown_key])
    assert checked.exit_code == 0, checked.output
    assert "omitted: attachment" in checked.output and "names third parties" in checked.output

    with zipfile.ZipFile(saved) as archive:
        evidence = json.loads(archive.read("evidence.json"))
        names = archive.namelist()
        contents = b"".join(archive.read(name) for name in names)
    assert evidence["report"]["id"] == report_id and evidence["exporter"]["name"] == "Inspector Vale"
    assert evidence["instance"] == served.url
    treatments = sorted((p["kind"], p["treatment"]) for p in evidence["parts"])
    assert treatments == [("attachment", "included"), ("attachment", "omitted"), ("message", "included")]
    assert message.encode() in contents and kept.encode() in contents
    assert left_out.encode() not in contents and "witnesses.txt" not in json.dumps(evidence)
    assert "data/attachments/invoice.pdf" in names

    data = bytearray(saved.read_bytes())
    at = bytes(data).index(kept.encode())
    data[at] ^= 0x01
    saved.write_bytes(bytes(data))
    assert CliRunner().invoke(main, ["evidence", "verify", str(saved)]).exit_code == 1

    # Nothing decrypted reached the server: not its storage, its log or its audit details.
    saved.unlink()
    needles = [message.encode(), kept.encode(), left_out.encode(), b"Inspector Vale"]
    found = [where for where, blob in _at_rest(app, tmp_path, database_url) if any(n in blob for n in needles)]
    assert not found, found
    assert not any(n.decode() in log for n in needles)
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        details = " ".join(e.detail or "" for e in db.scalars(select(AuditEntry)))
    assert not any(n.decode() in details for n in needles)
