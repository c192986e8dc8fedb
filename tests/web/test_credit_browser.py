"""SME credit in a browser on the real stack: a founder gives a consent and applies for a loan
from the credit page, watches both complete, and sees each bank's read under the consent; the
bank's clerk finds the loan on the bank's page."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.fixtures.stack import application, write_application
from tests.web.conftest import PHONE, assert_accessible
from tests.web.test_applicant_browser import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]
LIVE_S = 300_000  # ms: a hang guard for a case to move on a busy machine, not a window


def test_a_founder_consents_and_borrows_from_the_page_and_sees_every_read(stack, stack_pages, tmp_path):
    path = write_application(tmp_path, application())
    company = json.loads(stack.cli("apply", str(path), "--url", stack.url, "--wait", "--json", check=True).stdout)
    page = stack_pages.new(PHONE, "en")
    sign_in(page, "applicant", "en")
    page.wait_for_url(lambda url: "/sign-in" not in url)
    page.goto("/credit?lang=en")
    page.wait_for_selector("#cr-consent:not([hidden])")
    page.select_option("#company", company["uscc"])
    page.wait_for_selector("#consent-list p")  # this company has given none yet
    page.fill("#valid_days", "400")  # more than a consent may last: refused, naming the field
    page.click("#cr-consent button[type=submit]")
    expect(page.locator(".error-summary")).to_be_focused()
    for box in page.locator("#cr-consent input[type=checkbox]").all():
        box.check()
    page.fill("#valid_days", "90")
    page.click("#cr-consent button[type=submit]")
    page.wait_for_url("**/cases/*?new=1")
    page.wait_for_selector("#case-status.badge-completed", timeout=LIVE_S)

    page.goto("/credit?lang=en")
    page.select_option("#company", company["uscc"])
    consent = page.locator("[data-consent]").first
    expect(consent).to_contain_text("Active")
    page.select_option("#product", "rural_startup_credit")
    page.fill("#amount_cny", "300000")
    page.click("#cr-loan button[type=submit]")
    page.wait_for_url("**/cases/*?new=1")
    page.wait_for_selector("#case-status.badge-completed", timeout=LIVE_S)
    stack_pages.shoot(page, "credit-loan-completed-en")

    page.goto("/credit?lang=en")
    page.select_option("#company", company["uscc"])
    reads = page.locator("[data-consent]").first.locator("tbody tr")
    expect(reads).not_to_have_count(0)
    assert "Jinan Rural Commercial Bank" in reads.first.inner_text()
    assert_accessible(page)
    stack_pages.shoot(page, "credit-reads-en")

    clerk = stack_pages.new(None, "en")
    sign_in(clerk, "clerk-bank_rural", "en")
    clerk.wait_for_url("**/bank")
    clerk.wait_for_selector("#loans:not([hidden]) tbody tr")
    assert "Disbursed 300,000 yuan" in clerk.inner_text("#loans")
    assert_accessible(clerk)
    assert page.external_requests == [] and page.script_errors == [] and clerk.script_errors == []
