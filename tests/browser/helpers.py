"""Keyboard-only actions and the accessibility check used by every browser test."""

from __future__ import annotations

import weakref
from pathlib import Path

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.conftest import Outbox

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

_axe = Axe()
# axe-core leaves WCAG 2.2's target-size rule off by default; SPEC 8 asks for 24x24 px targets.
AXE_OPTIONS = {"resultTypes": ["violations"], "rules": {"target-size": {"enabled": True}}}

# Text that cannot wrap (a masked ID number, a reference) can stick out of its card or row
# without making the page scroll; the eye sees it cut or crossing a border all the same.
# Inputs scroll their own text, and boxes that clip on purpose (visually hidden) are left out.
SPILLED_CONTENT = """() => [...document.querySelectorAll('body *')]
  .filter(el => !['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName))
  .filter(el => getComputedStyle(el).overflowX === 'visible' && el.clientWidth > 0)
  .filter(el => el.scrollWidth > el.clientWidth + 1)
  .map(el => `${el.tagName.toLowerCase()}.${el.className}: ${el.textContent.trim().slice(0, 30)}`)"""


_WITHOUT_JAVASCRIPT: weakref.WeakSet[Page] = weakref.WeakSet()


def without_javascript(page: Page) -> None:
    """Mark a page whose context runs no JavaScript, for assert_accessible."""
    _WITHOUT_JAVASCRIPT.add(page)


def assert_accessible(page: Page, name: str = "") -> None:
    """Zero axe-core violations, and no horizontal scrolling on a phone-sized screen.

    axe-core needs timers, which do not run with JavaScript off; there it checks a
    JavaScript-enabled copy of the very same DOM, served at the same URL.
    """
    target = page
    mirror = None
    if page in _WITHOUT_JAVASCRIPT:
        html = page.content()
        browser = page.context.browser
        assert browser is not None, "a page opened through a Browser has one"
        mirror = browser.new_context(
            viewport=page.viewport_size, java_script_enabled=True, bypass_csp=True
        )
        target = mirror.new_page()
        target.route(page.url, lambda route: route.fulfill(body=html, content_type="text/html"))
        # The copy must not run htmx: it would not match what the visitor without JS sees.
        target.route("**/static/app.js*", lambda route: route.abort())
        target.goto(page.url)
    try:
        results = _axe.run(target, options=AXE_OPTIONS)
        violations = results.response["violations"]
        if violations:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"axe-{name or 'page'}.png"), full_page=True)
        assert not violations, results.generate_report()
        overflow = target.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"horizontal scrolling by {overflow}px"
        spilled = target.evaluate(SPILLED_CONTENT)
        assert not spilled, (
            f"content wider than its box on a {page.viewport_size} screen: {spilled}"
        )
    finally:
        if mirror is not None:
            mirror.close()


def tab_to(page: Page, selector: str, limit: int = 60) -> None:
    """Press Tab until the element matching `selector` has focus, as a keyboard user would."""
    target = page.locator(selector).first
    target.wait_for()
    handle = target.element_handle()
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(el) => document.activeElement === el", handle):
            return
    raise AssertionError(f"could not reach {selector} with the Tab key")


def settle(page: Page, js: bool) -> None:
    """Wait until the page (or htmx's swap) has finished."""
    page.wait_for_load_state("load")
    if js:
        # Playwright's own locators, not wait_for_function: the page's CSP forbids eval.
        # Until the new content has settled, htmx has not yet moved focus to its heading;
        # a Tab pressed before then would be undone by that focus move.
        expect(
            page.locator(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added")
        ).to_have_count(0)


def keyboard_submit(page: Page, js: bool, button: str = "button[type=submit]") -> None:
    """Tab to the form's submit button and press Enter."""
    tab_to(page, f"main {button}")
    if js:
        page.keyboard.press("Enter")
        page.wait_for_timeout(50)
    else:
        with page.expect_navigation():
            page.keyboard.press("Enter")
    settle(page, js)


def follow(page: Page, js: bool, link: str) -> None:
    """Tab to a link and press Enter: an htmx swap with JavaScript, a page load without."""
    tab_to(page, link)
    if js:
        page.keyboard.press("Enter")
        page.wait_for_timeout(50)
    else:
        with page.expect_navigation():
            page.keyboard.press("Enter")
    settle(page, js)


def type_into(page: Page, selector: str, text: str) -> None:
    tab_to(page, selector)
    page.keyboard.type(text)


def login(page: Page, js: bool, phone: str, outbox: Outbox) -> None:
    """Sign in with the keyboard only, reading the code from the SMS outbox."""
    page.goto("/login")
    type_into(page, "#phone", phone)
    keyboard_submit(page, js)
    page.wait_for_url("**/login/verify")
    type_into(page, "#code", outbox.last_code(phone))
    keyboard_submit(page, js)
    page.wait_for_url("**/permit")


def expect_error(page: Page, js: bool, name: str, *messages: str) -> None:
    """The error summary is shown, named in the title, and has the focus (SPEC 4.4, 4.5)."""
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    for message in messages:
        expect(summary).to_contain_text(message)
    assert page.title().startswith("错误: ")
    if js:
        expect(summary).to_be_focused()
    else:
        assert summary.get_attribute("autofocus") is not None
    assert_accessible(page, name)
