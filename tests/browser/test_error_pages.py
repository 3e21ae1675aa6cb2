"""The pages of failing well (issue 9): "too large" (413) and "unavailable" (503), reached
as a visitor reaches them, on a 360 px phone with JavaScript on and off, and at 200 % text:
a heading that says what happened, zero axe violations, no sideways scrolling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from epermit import db, demo
from tests.browser.conftest import PHONE
from tests.browser.helpers import assert_accessible, without_javascript


@pytest.fixture(params=["js", "nojs"])
def visitor(request: pytest.FixtureRequest, browser: Browser, live_server: str) -> Iterator[Page]:
    # Its own context: a 5xx answer is the point here, not a browser error to report.
    js = request.param == "js"
    context = browser.new_context(
        base_url=live_server, viewport=PHONE, java_script_enabled=js, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    if not js:
        without_javascript(page)
    yield page
    context.close()


def submit(page: Page) -> None:
    page.locator("main form button[type=submit]").first.click()


def test_a_form_too_large_gets_a_page_that_says_so(visitor: Page):
    page = visitor
    page.goto("/login")
    # Far more than any field needs (a pasted document): the body is over 64 KB.
    page.locator("#phone").evaluate("(input, text) => { input.value = text; }", "1" * 70_000)
    submit(page)
    expect(page.locator("h1")).to_have_text("提交的内容过大")
    expect(page.locator("main")).to_contain_text("删减内容")
    assert_accessible(page, "error-413")
    page.evaluate("document.documentElement.style.fontSize = '200%'")
    assert_accessible(page, "error-413-200pct")


def test_the_database_down_gets_a_page_that_says_nothing_was_changed(
    visitor: Page, app: Flask
):
    page = visitor
    page.goto("/login")
    page.fill("#phone", demo.phone("张伟"))
    working = db.engine_of(app), app.extensions["db_writer"]
    unreachable = db.make_engine(
        f"sqlite:///{Path('/nonexistent') / 'no-such-folder' / 'epermit.db'}"
    )
    # Both the reading engine and the writing one (made once per app) point nowhere.
    app.extensions["db_engine"] = unreachable
    app.extensions["db_writer"] = db.writer(unreachable)
    try:
        submit(page)
        expect(page.locator("h1")).to_have_text("系统暂时无法使用")
        expect(page.locator("main")).to_contain_text("没有生效")
        assert_accessible(page, "error-503")
    finally:
        app.extensions["db_engine"], app.extensions["db_writer"] = working
