"""The notes page in a real browser (headless Chromium on the controller), through nginx and uWSGI
over HTTPS with the host's own certificate trusted: it loads cleanly, its stylesheet applies, its
form adds a note and refuses a POST without its CSRF token, and after a deploy that changes the
stylesheet the page loads the new one while the old one stays reachable for pages still open."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from testlib.app import deploy
from testlib.browser import Browser, chromium
from testlib.wait import wait_until

ACCENT = "rgb(9, 105, 218)"  # conftest.ACCENT, the colour of h1
NEW_ACCENT = "rgb(130, 80, 223)"  # conftest.NEW_ACCENT, restyled_app's


@pytest.fixture(scope="module")
def browser(host: Any) -> Iterator[Browser]:
    with chromium(host) as b:
        yield b


def stylesheet(browser: Browser) -> str:
    return str(browser.find('link[rel="stylesheet"]').get_attribute("href"))


def test_page_loads_over_trusted_https_with_no_console_error_and_no_csp_violation(browser: Browser) -> None:
    browser.open("/")
    assert browser.driver.title == "Notes"
    assert browser.csp_violations() == []
    assert browser.console() == []


def test_stylesheet_applies(browser: Browser) -> None:
    browser.open("/")
    assert browser.css("h1", "color") == ACCENT


def test_note_submitted_with_the_form_appears_on_the_page(browser: Browser) -> None:
    text = f"typed in a browser {uuid.uuid4()}"
    browser.open("/")
    browser.find("textarea[name=text]").send_keys(text)
    browser.find(".add button[type=submit]").click()
    wait_until(lambda: text in browser.texts(".notes li p"), 10)
    assert browser.driver.current_url == browser.origin + "/"
    assert browser.console() == []


def test_form_post_without_its_csrf_token_is_refused_and_adds_nothing(browser: Browser) -> None:
    text = f"forged {uuid.uuid4()}"
    browser.open("/")
    browser.driver.execute_script("document.querySelector('input[name=csrf_token]').remove()")
    browser.find("textarea[name=text]").send_keys(text)
    browser.find(".add button[type=submit]").click()
    wait_until(lambda: "400 Bad Request" in browser.driver.title, 10)
    assert "CSRF token" in browser.find("body").text
    browser.open("/")
    assert text not in browser.texts(".notes li p")


@pytest.fixture(scope="module")
def deployed_restyle(browser: Browser, restyled_app: Path) -> dict[str, str]:
    """The page's stylesheet URL before and after a deploy of a release with a new stylesheet. The
    restyled release stays: the modules after this one start from it (conftest.ORDER)."""
    browser.open("/")
    before = stylesheet(browser)
    run = deploy(restyled_app)
    assert run.rc == 0, run
    browser.open("/")
    return {"before": before, "after": stylesheet(browser)}


def test_after_a_deploy_the_page_loads_the_new_releases_stylesheet(
        browser: Browser, deployed_restyle: dict[str, str]) -> None:
    assert deployed_restyle["after"] != deployed_restyle["before"]
    browser.open("/")
    assert stylesheet(browser) == deployed_restyle["after"]
    assert browser.css("h1", "color") == NEW_ACCENT
    assert browser.console() == []


def test_previous_releases_stylesheet_stays_reachable_after_a_deploy(
        browser: Browser, deployed_restyle: dict[str, str]) -> None:
    old = browser.fetch(deployed_restyle["before"])
    assert old["status"] == 200
    assert "--accent: #0969da;" in old["body"]  # the checkout's stylesheet
    assert old["cacheControl"] == "public, max-age=31536000, immutable"
