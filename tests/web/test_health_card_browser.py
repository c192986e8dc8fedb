"""The health card pages in a browser on the real stack: a resident applies with the form, shows a
one-time code, a hospital clerk checks it (and a replay is refused), and the resident sees the read."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.conftest import PHONE, assert_accessible
from tests.web.test_applicant_browser import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]  # on the registrations' stack
LIVE_S = 300_000  # ms: a hang guard for a case to move on a busy machine, not a window


def test_a_resident_gets_a_card_shows_a_code_and_sees_the_hospitals_read(stack, stack_pages):
    page = stack_pages.new(PHONE, "en")
    sign_in(page, "resident", "en")
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto("/health-card?lang=en")
    page.wait_for_selector("#hc-apply:not([hidden])")
    page.fill("#resident-name", "王芳")
    page.fill("#resident-id_number", "370103199003022467")
    page.fill("#resident-phone", "13905310004")
    page.fill("#pin", "123456")  # a run of digits: refused, naming the field
    page.check("#share-allergies")
    page.fill("#allergies", "花粉 pollen")
    page.click("#hc-apply button[type=submit]")
    expect(page.locator(".error-summary")).to_be_focused()
    assert "Visit PIN" in page.inner_text(".error-summary")
    assert page.get_attribute("#pin", "aria-invalid") == "true"
    page.fill("#pin", "402917")
    page.click("#hc-apply button[type=submit]")
    page.wait_for_url("**/cases/*?new=1")
    page.wait_for_selector("#case-status.badge-completed", timeout=LIVE_S)

    page.goto("/health-card?lang=en")
    card = page.locator("[data-card]").first
    expect(card).to_contain_text("Valid")
    assert page.is_hidden("#hc-apply")  # one valid card: no second form
    assert_accessible(page)
    card.get_by_role("button", name="Show a code for a visit").click()
    code = card.locator(".qr .mono").inner_text()
    assert code.startswith("EHD:") and card.locator(".qr img").get_attribute("alt").startswith("One-time visit code")
    stack_pages.shoot(page, "health-card-code-en")

    clerk = stack_pages.new(None, "en")
    sign_in(clerk, "clerk-hospital_qilu", "en")
    clerk.wait_for_url("**/hospital")  # a hospital's clerk lands on the check page
    clerk.fill("#code", code)
    clerk.select_option("#channel", "doctor")
    clerk.click("#hosp-check button[type=submit]")
    clerk.wait_for_selector("#check-result[data-status=valid]", timeout=LIVE_S)
    shown = clerk.inner_text("#check-result")
    assert "王芳" in shown and "Female" in shown and "花粉 pollen" in shown and "Emergency contact" not in shown
    assert_accessible(clerk)
    stack_pages.shoot(clerk, "hospital-check-valid-en")
    clerk.fill("#code", code)  # the same code again: a replay
    clerk.click("#hosp-check button[type=submit]")
    clerk.wait_for_selector("#check-result[data-status=refused]", timeout=LIVE_S)
    assert "replay" in clerk.inner_text("#check-result")

    page.reload()
    visits = page.locator("[data-card]").first.locator("tbody tr")
    expect(visits).to_have_count(2)
    assert "Qilu Hospital" in visits.first.inner_text() and "Read" in visits.first.inner_text()
    assert "Refused" in visits.nth(1).inner_text()
    assert page.external_requests == [] and page.script_errors == [] and clerk.script_errors == []
