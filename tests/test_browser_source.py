"""A source in a real browser with JavaScript off (as Tor Browser "Safest") against a served instance."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait
from server_support import ServedInstance

from parrhesia.crypto import fingerprint
from parrhesia.testing import RegisteredRecipient

pytestmark = [pytest.mark.browser, pytest.mark.server]

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
# What the JavaScript check loads: a script that would change the page, and a <noscript>
# block that a browser renders only when scripting is off.
_JS_PROBE = (
    "data:text/html,<title>probe</title><p id='state'>scripts-off</p>"
    "<script>document.getElementById('state').textContent='scripts-on'</script>"
    "<noscript><p id='noscript'>noscript-shown</p></noscript>"
)


def _browser(profile: Path) -> webdriver.Chrome:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if missing:
        pytest.fail(f"the browser test needs {missing}: run `make browser` (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        "--blink-settings=scriptEnabled=false",
    ):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    except WebDriverException as exc:
        pytest.fail(f"headless chromium could not be started: {exc.msg}")
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = _browser(tmp_path / "chromium-profile")
    try:
        yield driver
    finally:
        driver.quit()


def _assert_javascript_is_off(driver: webdriver.Chrome) -> None:
    # Checked on a page of our own, not on the app: the app's CSP blocks inline scripts
    # anyway, so a page of the app would look the same with JavaScript on. WebDriver reads
    # the DOM through DevTools, which works whatever the page's script setting; the page
    # itself shows whether its script ran and whether <noscript> was rendered.
    driver.get(_JS_PROBE)
    state = driver.find_element(By.ID, "state").text
    assert state == "scripts-off", "JavaScript ran in the browser that should have it disabled"
    try:
        shown = driver.find_element(By.ID, "noscript").text
    except NoSuchElementException:
        pytest.fail("<noscript> was not rendered: the browser thinks scripting is on")
    assert shown == "noscript-shown"


def _text(driver: webdriver.Chrome) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _gone(element: object) -> bool:
    """Whether an element left the page. While the next page replaces the document,
    chromedriver may answer "node does not belong to the document" rather than stale."""
    try:
        element.is_enabled()  # type: ignore[attr-defined]
    except WebDriverException:  # StaleElementReferenceException is one
        return True
    return False


def _submit_and_wait(driver: webdriver.Chrome, form_action: str, arrived: object, what: str) -> None:
    """Click a form's submit button and wait (bounded) for the next page to arrive."""
    button = driver.find_element(By.CSS_SELECTOR, f"form[action$='{form_action}'] button[type=submit]")
    button.click()
    try:
        WebDriverWait(driver, 30).until(lambda _driver: _gone(button))
        WebDriverWait(driver, 30).until(arrived)  # type: ignore[arg-type]
    except TimeoutException:
        pytest.fail(f"{what} did not arrive; the page at {driver.current_url} said:\n{_text(driver)}")


def test_source_submits_and_returns_with_javascript_disabled(
    browser: webdriver.Chrome, instance_dir: Path, tmp_path: Path, recipient: RegisteredRecipient
) -> None:
    _assert_javascript_is_off(browser)
    evidence = tmp_path / "invoice 0042.pdf"
    evidence.write_bytes(b"%PDF-1.4 inflated invoice for the bridge repairs\n")
    message = "The invoice for the bridge repairs was inflated threefold; I attach a copy."

    with ServedInstance(instance_dir, tmp_path / "server") as served:
        browser.get(served.url + "/")
        landing = _text(browser)
        assert "Integrity Office" in landing and "Ombudsman" in landing
        assert fingerprint(bytes(recipient.key.public_key)) in landing, "the recipient's key fingerprint is not shown"

        browser.find_element(By.LINK_TEXT, "Make a report").click()
        WebDriverWait(browser, 30).until(expected_conditions.url_contains("/submit"))
        # Step 1: the routing questions, left unanswered; step 2: who reads it, and the content.
        _submit_and_wait(
            browser, "/submit/review",
            expected_conditions.presence_of_element_located((By.ID, "attachments")), "the content form",
        )
        assert fingerprint(bytes(recipient.key.public_key)) in _text(browser), "the review step hides who reads it"
        browser.find_element(By.ID, "message").send_keys(message)
        browser.find_element(By.ID, "attachments").send_keys(str(evidence))
        _submit_and_wait(
            browser, "/submit", expected_conditions.presence_of_element_located((By.ID, "codename")), "the codename"
        )
        codename = browser.find_element(By.ID, "codename").text.strip()
        assert len(codename.split()) >= 7
        browser.save_screenshot(str(tmp_path / "codename.png"))

        # A new visit: a fresh browser session, nothing but the codename carried over.
        browser.delete_all_cookies()
        browser.get(served.url + "/login")
        browser.find_element(By.NAME, "codename").send_keys(codename)
        _submit_and_wait(browser, "/login", expected_conditions.url_contains("/report"), "the report page")
        page = _text(browser)
        browser.save_screenshot(str(tmp_path / "report.png"))

    assert message in page
    assert "invoice 0042.pdf" in page
    assert (tmp_path / "report.png").stat().st_size > 0
