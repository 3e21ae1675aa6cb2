"""Browser fixtures: the app served over real HTTP, Debian's Chromium driven by Playwright,
on a phone-sized screen, with JavaScript on and off, and an axe-core check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, sync_playwright

from tests.browser.helpers import without_javascript

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE: ViewportSize = {"width": 360, "height": 740}


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=["js", "nojs"])
def js(request: pytest.FixtureRequest) -> bool:
    return request.param == "js"


@pytest.fixture
def page(browser: Browser, live_server: str, js: bool) -> Iterator[Page]:
    context = browser.new_context(
        base_url=live_server, viewport=PHONE, java_script_enabled=js, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    if not js:
        without_javascript(page)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_console(message: ConsoleMessage) -> None:
        # A 422 or 404 answer is part of the journey; script errors and CSP refusals are not.
        if (
            message.type == "error"
            and "the server responded with a status of 4" not in message.text
        ):
            errors.append(message.text)

    page.on("console", on_console)
    yield page
    context.close()
    assert not errors, f"browser errors: {errors}"
