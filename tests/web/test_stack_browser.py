"""The pages in a browser on the real stack (`onevisit up`): an applicant applies with the form
and watches the case complete live, with no reload; its licence is genuine and valid on the public
page, a made-up code unknown, and each agency's document downloads from the case page; a clerk
decides from the queue; an auditor reads the evidence and downloads the bundle."""

from __future__ import annotations

import json

import pytest

from agencies.identifiers import random_uscc
from tests.e2e.test_clerks import review_application, step, wait_for
from tests.fixtures.http import loopback
from tests.fixtures.stack import application
from tests.web.conftest import PHONE
from tests.web.test_applicant_browser import fill_application, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]
LIVE_S = 300_000  # ms: a hang guard for a case to move on a busy machine, not a window


def test_an_applicant_applies_with_the_form_and_watches_it_complete_live(stack, stack_pages):
    app = application()
    page = stack_pages.new()
    sign_in(page, "applicant")
    page.wait_for_url("**/my-cases")
    page.goto("/apply")
    page.wait_for_selector("#shareholders-0-name")
    fill_application(page, app)
    page.click("button[type=submit]")
    page.wait_for_url("**/cases/*?new=1")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads
    page.wait_for_selector("#timeline li[data-step=name_check]")
    seen = [page.inner_text("#case-status")]
    stack_pages.shoot(page, "stack-case-running-zh")
    page.wait_for_selector("#case-status.badge-completed", timeout=LIVE_S)
    seen.append(page.inner_text("#case-status"))
    assert page.evaluate("window.__sameDocument") is True  # updated live, never reloaded
    assert seen[-1] == "已办结"
    assert page.inner_text("#live").startswith("状态：已办结")
    states = page.eval_on_selector_all("#timeline li", "items => items.map(li => li.dataset.state)")
    assert states == ["completed"] * 5 + ["skipped"] * 2
    blocks = page.eval_on_selector_all("#timeline li.state-completed dd.mono", "dds => dds.map(d => d.textContent)")
    assert len(blocks) == 5 and all(b.startswith("#") and int(b[1:]) > 0 for b in blocks)
    uscc = page.inner_text("#case-uscc")
    case_id = page.url.split("/cases/")[1].split("?")[0]
    case = loopback.get(f"{stack.url}/api/v1/cases/{case_id}", headers=stack.token("applicant")).json()
    assert case["uscc"] == uscc and case["status"] == "completed"
    stack_pages.shoot(page, "stack-case-completed-zh")
    with page.expect_download() as download:
        page.click("#download-licence")
    assert open(download.value.path(), "rb").read(5) == b"%PDF-"
    links = page.eval_on_selector_all("#documents-list a", "links => links.map(a => a.dataset.step)")
    assert links == ["business_licence", "seal_approval", "tax_registration", "social_security"]
    with page.expect_download() as download:  # a certificate made from the seal step's signed handoff
        page.click("#documents-list a[data-step=seal_approval]")
    assert download.value.suggested_filename == f"seal_filing-{uscc}.pdf"
    page.click("#show-live")  # the e-licence shown live on this phone
    assert page.wait_for_selector("#live-licence img").get_attribute("alt") == f"营业执照 {uscc} 的亮照二维码"
    page.goto(f"/cases/{case_id}?lang=en")
    page.wait_for_selector("#case-status.badge-completed")
    stack_pages.shoot(page, "stack-case-completed-en")
    assert page.external_requests == [] and page.script_errors == []

    public = stack_pages.new(PHONE)  # anyone: no sign-in
    for lang in ("zh", "en"):
        public.goto(f"/check?lang={lang}")
        public.fill("#code", uscc)
        public.keyboard.press("Enter")
        public.wait_for_selector("[data-status=valid]")
        assert app["company"]["name"] in public.inner_text(".result")
        stack_pages.shoot(public, f"stack-check-valid-{lang}")
        public.fill("#code", random_uscc("370105"))
        public.keyboard.press("Enter")
        public.wait_for_selector("[data-status=unknown]")
        assert ("未查到" if lang == "zh" else "Not found") in public.inner_text(".result")
        stack_pages.shoot(public, f"stack-check-unknown-{lang}")
    assert public.external_requests == [] and public.script_errors == []


def test_a_clerk_approves_from_the_queue_and_the_case_moves_on(stack, stack_pages, tmp_path):
    made = loopback.post(f"{stack.url}/api/v1/cases", json=review_application(), headers=stack.token("applicant"))
    case_id = made.json()["case_id"]
    wait_for(stack, case_id, lambda c: step(c, "business_licence")["state"] == "awaiting_decision")
    for lang in ("en", "zh"):
        page = stack_pages.new(PHONE if lang == "zh" else None, lang)
        sign_in(page, "clerk-market_regulation", lang)
        page.wait_for_url("**/queue")
        row = page.wait_for_selector(f"tr[data-case='{case_id}']")
        assert "食品" in row.inner_text()
        stack_pages.shoot(page, f"stack-queue-{lang}")
    page.click(f"tr[data-case='{case_id}'] a")
    page.wait_for_selector("#decide:not([hidden])")
    page.click("button:has-text('提交审批意见')")  # no decision chosen: said in words
    page.wait_for_selector(".error-summary")
    assert "请填写审批意见" in page.inner_text(".error-summary")
    page.check("#decision-reject")
    page.click("button:has-text('提交审批意见')")
    page.wait_for_selector("#reason-error")  # a rejection needs a reason
    stack_pages.shoot(page, "stack-decide-error-zh")
    page.check("#decision-approve")
    page.click("button:has-text('提交审批意见')")
    page.wait_for_selector("#action-status:has-text('审批意见已提交')")
    case = wait_for(stack, case_id, lambda c: step(c, "business_licence")["state"] == "completed")
    assert step(case, "business_licence")["decided_by"] == "clerk:clerk-market_regulation"
    page.reload()
    page.wait_for_selector("#timeline li[data-step=business_licence][data-state=completed]")
    assert "clerk-market_regulation" in page.inner_text("#timeline li[data-step=business_licence]")
    assert page.external_requests == [] and page.script_errors == []


def test_an_auditor_reads_the_evidence_and_downloads_the_bundle(stack, stack_pages, tmp_path):
    made = loopback.post(f"{stack.url}/api/v1/cases", json=application(), headers=stack.token("applicant"))
    case_id = made.json()["case_id"]
    wait_for(stack, case_id, lambda c: c["status"] == "completed")
    for lang in ("zh", "en"):
        page = stack_pages.new(None, lang)
        sign_in(page, "auditor", lang)
        page.wait_for_url("**/audit")
        page.wait_for_selector(f"#case-pick option[value='{case_id}']", state="attached")
        page.select_option("#case-pick", case_id)
        page.click("#audit-form button[type=submit]")
        page.wait_for_selector("#evidence:not([hidden])")
        stored = loopback.get(f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor")).json()
        assert page.locator("#handoffs tbody tr").count() == len(stored["handoffs"]) >= 5
        # the service levels, from anchor block times: a month with this case, each agency's step times
        page.wait_for_selector("#sl-months tbody tr meter", state="attached")
        levels = loopback.get(f"{stack.url}/api/v1/audit/service-levels", headers=stack.token("auditor")).json()
        assert page.locator("#sl-months tbody tr").count() == len(levels["by_month"]) >= 1
        assert page.locator("#sl-agencies tbody tr").count() == len(levels["by_agency"]) >= 4
        stack_pages.shoot(page, f"stack-audit-{lang}")
    with page.expect_download() as download:
        page.click("#download-bundle")
    bundle = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert bundle["case_id"] == case_id and len(bundle["handoffs"]) == len(stored["handoffs"])
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    assert stack.cli("audit", "verify-bundle", str(path)).returncode == 0  # the download verifies offline
    assert page.external_requests == [] and page.script_errors == []


def test_a_clerk_rejects_with_a_reason_and_the_applicant_corrects_it_to_completion(stack, stack_pages):
    app = review_application()
    made = loopback.post(f"{stack.url}/api/v1/cases", json=app, headers=stack.token("applicant"))
    case_id = made.json()["case_id"]
    wait_for(stack, case_id, lambda c: step(c, "business_licence")["state"] == "awaiting_decision")
    clerk = stack_pages.new()
    sign_in(clerk, "clerk-market_regulation")
    clerk.wait_for_url("**/queue")
    clerk.goto(f"/cases/{case_id}")
    clerk.wait_for_selector("#decide:not([hidden])")
    clerk.check("#decision-reject")
    clerk.fill("#reason", "请上传食品经营许可证")
    clerk.click("#decide-form button[type=submit]")
    clerk.wait_for_selector("#action-status:has-text('审批意见已提交')")

    page = stack_pages.new(PHONE)
    sign_in(page, "applicant")
    page.wait_for_url("**/my-cases")
    page.goto(f"/cases/{case_id}")
    page.wait_for_selector("#returned:not([hidden])", timeout=LIVE_S)  # live: the rejection returns it
    assert "请上传食品经营许可证" in page.inner_text("#case-facts")
    page.click("#returned a")
    page.wait_for_selector("#returned-reason:not([hidden])")
    assert page.input_value("#company-name") == app["company"]["name"]
    page.fill("#company-business_scope", "日用百货销售")  # no longer a licensed activity: approved by rule
    page.click("#apply button[type=submit]")
    page.wait_for_url(f"**/cases/{case_id}?corrected=1")
    page.wait_for_selector("#case-status.badge-completed", timeout=LIVE_S)
    assert page.get_attribute("#timeline li[data-step=business_licence]", "data-state") == "completed"
    stack_pages.shoot(page, "stack-corrected-completed-zh")
    case = loopback.get(f"{stack.url}/api/v1/cases/{case_id}", headers=stack.token("applicant")).json()
    assert case["status"] == "completed" and step(case, "business_licence")["attempt"] == 2
    assert page.external_requests == [] and page.script_errors == []
    assert clerk.external_requests == [] and clerk.script_errors == []
