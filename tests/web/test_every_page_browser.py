"""Every page in a browser, in Chinese and in English, at phone width, as the person it is for:
it renders without a script error, passes the accessibility checks, never scrolls sideways and
loads nothing from elsewhere; a screenshot of each is kept."""

from __future__ import annotations

import pytest

from agencies.identifiers import random_uscc
from tests.agencies.test_certificates import OUTPUTS
from tests.gateway.test_documents_api import record_step
from tests.web.conftest import PHONE, assert_accessible
from tests.web.test_applicant_browser import sign_in

PAGES = [
    (None, "/", "h1"),
    (None, "/check", "#code"),
    (None, "/sign-in", "#username"),
    ("applicant", "/apply", "#shareholders-0-name"),
    ("applicant", "/my-cases", "#cases tbody tr"),
    ("applicant", "/cases/{case}", "#documents-list a[data-step=seal_approval]"),  # with what was issued
    ("clerk-market_regulation", "/queue", "#queue-status"),
    ("resident", "/health-card", "#hc-apply:not([hidden]) #resident-name"),
    ("clerk-hospital_qilu", "/hospital", "#code"),
    ("applicant", "/credit", "#cr-status"),
    ("clerk-bank_qilu", "/bank", "#bk-status"),
    ("auditor", "/audit", "#case-pick option"),
]


def issue_documents(gw, case_id: str) -> None:
    """The case's licence and seals issued (signed handoffs in the store), so its page lists them."""
    licence = {"uscc": random_uscc("370102"), "company_name": "济南泉智信息科技有限公司", "licence_date": "2026-11-22"}
    record_step(gw, case_id, "business_licence", "market_regulation", licence)
    record_step(gw, case_id, "seal_approval", *OUTPUTS["seal_approval"], block=8)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page(pages, served_gateway, lang):
    case_id = served_gateway.open_case()
    issue_documents(served_gateway, case_id)
    for user, path, ready in PAGES:
        page = pages.new(PHONE, lang)
        if user:
            sign_in(page, user, lang)
            page.wait_for_url(lambda url: "/sign-in" not in url)
        page.goto(path.format(case=case_id) + f"?lang={lang}")
        page.wait_for_selector(ready, state="attached")
        assert_accessible(page)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        name = path.strip("/").replace("/", "-").replace("{case}", "case") or "home"
        pages.shoot(page, f"page-{name}-{lang}")
        if path == "/cases/{case}":  # a document downloads from its link
            with page.expect_download() as download:
                page.click("#documents-list a[data-step=seal_approval]")
            assert download.value.suggested_filename.startswith("seal_filing-")
            assert open(download.value.path(), "rb").read(5) == b"%PDF-"
        assert page.external_requests == [] and page.script_errors == [], path
