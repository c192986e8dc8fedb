"""The public licence check in a browser (in-process gateway): keyboard only, phone width, both
languages; nothing is fetched from anywhere but the gateway."""

from __future__ import annotations

from playwright.sync_api import expect

from agencies.identifiers import random_uscc
from gateway.casework import record_handoff
from tests.gateway.test_public_licence import licence_handoff
from tests.web.conftest import PHONE, assert_accessible


def test_keyboard_only_check_of_a_valid_and_a_mistyped_code(pages, served_gateway):
    gw = served_gateway
    case_id, code = gw.open_case(), random_uscc("370102")
    with gw.session() as session:
        record_handoff(session, case_id, *licence_handoff(code))
    for lang in ("zh", "en"):
        for size, width in ((PHONE, "phone"), (None, "desktop")):
            page = pages.new(size, lang)
            page.goto(f"/check?lang={lang}")
            pages.shoot(page, f"check-empty-{lang}-{width}")
            page.keyboard.press("Tab")  # the skip link first
            assert page.evaluate("document.activeElement.className") == "skip"
            page.get_by_label("统一社会信用代码" if lang == "zh" else "Unified social credit code").fill(code)
            page.keyboard.press("Enter")
            page.wait_for_selector("[data-status=valid]")
            pages.shoot(page, f"check-valid-{lang}-{width}")
            page.fill("#code", code[:-1] + ("0" if code[-1] != "0" else "1"))
            page.keyboard.press("Enter")
            # The summary is in the page as it is parsed; the focus moves to it once the deferred script runs.
            expect(page.locator(".error-summary")).to_be_focused()
            assert page.title().startswith("错误：" if lang == "zh" else "Error: ")
            pages.shoot(page, f"check-error-{lang}-{width}")
            page.keyboard.press("Tab")  # into the summary's link, which takes the focus to the field
            page.keyboard.press("Enter")
            assert page.evaluate("document.activeElement.id") == "code"
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scroll
            assert_accessible(page)
            assert page.external_requests == [] and page.script_errors == []


def test_the_check_works_without_javascript(pages):
    page = pages.new(PHONE, javascript=False)
    page.goto("/check")
    page.fill("#code", random_uscc("370105"))
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-status=unknown]")
    page.click("a.lang")  # the switch keeps the answer
    page.wait_for_selector("[data-status=unknown]")
    assert "Not found" in page.inner_text(".result")
    pages.shoot(page, "check-unknown-nojs-en")
