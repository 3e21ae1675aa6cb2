"""A case record prints well (issue 3): on one A4 page, naming the service and the case, with
no navigation, buttons or signed-in name on paper."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.test_narrow_screens import sign_in, submit


def test_done_page_and_receipt_print_on_one_page(browser, live_server, outbox):
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, outbox, "13800000001")
    page.goto("/endorse")
    page.check("#for_whom")
    submit(page)
    page.check("#address_unchanged")
    submit(page)
    page.check("#declaration")
    submit(page)
    reference = page.locator("#reference").inner_text()
    for url in (page.url, f"/cases/{reference}"):
        page.goto(url)
        page.emulate_media(media="print")
        expect(page.locator(".service-name")).to_be_visible()
        for hidden in (".account", ".site-nav", ".site-footer", ".no-print", "main a"):
            for element in page.locator(hidden).all():
                expect(element).to_be_hidden()
        expect(page.locator("main")).to_contain_text(reference)
        expect(page.locator("main dl.summary")).to_contain_text("4301开头、1234结尾，中间10位已隐藏")
        pdf = page.pdf(format="A4")
        pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
        assert pages == 1, f"{url} prints on {pages} pages"
        page.emulate_media(media="screen")
    context.close()
