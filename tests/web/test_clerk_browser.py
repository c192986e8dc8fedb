"""The clerk's and the applicant's actions in a browser, on the in-process gateway (the engine
faked, updates accepted): the queue marks an overdue step in words; the case page reads the
application with a purpose and sends a decision; the applicant withdraws with a reason, and sees
when the data of a case was erased."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.casework import record_case
from tests.web.conftest import PHONE, assert_accessible
from tests.web.test_applicant_browser import sign_in
from workflows.engine import CaseWorkflow
from workflows.messages import CORRECT_UPDATE, DECIDE_UPDATE, WITHDRAW_UPDATE


@pytest.fixture
def awaiting(served_gateway, fake_temporal) -> str:
    """A case whose business licence waits, past its deadline, for a market-regulation clerk."""
    gw = served_gateway
    case_id = gw.open_case()
    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    now = datetime.now(UTC)
    status.revision = 1
    for st in status.steps:
        if st.step == "name_check":
            st.state = "completed"
        if st.step == "business_licence":
            st.state, st.escalated = "awaiting_decision", True
            st.since, st.deadline = (now - timedelta(hours=3)).isoformat(), (now - timedelta(hours=2)).isoformat()
            st.review_reasons = ["经营范围含许可项目"]
    with gw.session() as session:
        record_case(session, status)
    return case_id


def test_a_clerk_sees_the_overdue_step_reads_with_a_purpose_and_approves(
    pages, served_gateway, awaiting, fake_temporal
):
    for lang, size in (("zh", PHONE), ("en", None)):
        page = pages.new(size, lang)
        sign_in(page, "clerk-market_regulation", lang)
        page.wait_for_url("**/queue")
        row = page.wait_for_selector(f"tr[data-case='{awaiting}']")
        assert ("超时" if lang == "zh" else "Overdue") in row.inner_text()
        assert "经营范围含许可项目" in row.inner_text()
        assert_accessible(page)
        pages.shoot(page, f"queue-escalated-{lang}")
    page.click(f"tr[data-case='{awaiting}'] a")
    page.wait_for_selector("#decide:not([hidden])")
    assert "Past its deadline" in page.inner_text("#timeline li[data-step=business_licence]")
    page.click("#read-form button")
    page.wait_for_selector("#purpose-error")
    page.fill("#purpose", "checking the licensed activities")
    page.click("#read-form button")
    page.wait_for_selector("#application:not([hidden])")
    assert "company.business_scope" in page.inner_text("#application")
    reads = served_gateway.http.get(f"/api/v1/cases/{awaiting}/reads", headers=served_gateway.login("applicant")).json()
    assert [(r["reader"], r["purpose"]) for r in reads] == [
        ("clerk-market_regulation", "checking the licensed activities")
    ]
    assert_accessible(page)
    pages.shoot(page, "case-clerk-en")
    page.check("#decision-approve")
    page.click("#decide-form button[type=submit]")
    page.wait_for_selector("#action-status:has-text('Decision sent')")
    (case_id, update, decision) = fake_temporal.updates[-1]
    assert (case_id, update, decision.approve, decision.clerk) == (
        awaiting,
        DECIDE_UPDATE,
        True,
        "clerk-market_regulation",
    )
    assert page.external_requests == [] and page.script_errors == []
    applicant = pages.new(PHONE)
    sign_in(applicant, "applicant")
    applicant.wait_for_url("**/my-cases")
    applicant.goto(f"/cases/{awaiting}")
    applicant.wait_for_selector("#reads-table:not([hidden])")
    assert "checking the licensed activities" in applicant.inner_text("#reads-table")
    assert "clerk-market_regulation" in applicant.inner_text("#reads-table")
    pages.shoot(applicant, "case-reads-zh")


def test_a_clerk_of_another_agency_is_not_offered_the_decision(pages, awaiting):
    page = pages.new()
    sign_in(page, "clerk-tax")
    page.wait_for_url("**/queue")
    page.wait_for_selector("#queue-status:has-text('目前没有等待审批的事项')")
    page.goto(f"/cases/{awaiting}")
    page.wait_for_selector("#timeline li")
    assert page.is_hidden("#decide")


def test_the_applicant_withdraws_with_a_reason(pages, awaiting, fake_temporal, served_gateway):
    page = pages.new(PHONE)
    sign_in(page, "applicant")
    page.wait_for_url("**/my-cases")
    page.click(f"a[href='/cases/{awaiting}']")
    page.wait_for_selector("#withdraw:not([hidden])")
    assert page.is_hidden("#decide") and page.is_hidden("#read")
    page.click("#withdraw-form button")
    page.wait_for_selector(".error-summary a[href='#withdraw-reason']")
    assert "请填写撤回原因" in page.inner_text(".error-summary")
    page.fill("#withdraw-reason", "改变经营计划")
    page.click("#withdraw-form button")
    page.wait_for_selector("#action-status:has-text('撤回申请已受理')")
    assert page.query_selector(".error-summary") is None
    (case_id, update, withdrawal) = fake_temporal.updates[-1]
    assert (case_id, update, withdrawal.reason) == (awaiting, WITHDRAW_UPDATE, None)  # its commitment only
    from gateway.store import CaseNote

    with served_gateway.session() as session:
        note = session.get(CaseNote, withdrawal.reason_commitment)
        assert note.kind == "withdrawal" and note.case_id == awaiting
    assert_accessible(page)
    pages.shoot(page, "case-withdrawn-zh")
    assert page.external_requests == [] and page.script_errors == []


def test_a_returned_application_is_corrected_from_the_form_filled_in(pages, served_gateway, fake_temporal):
    gw = served_gateway
    case_id = gw.open_case()
    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    status.state, status.revision, status.reason = "returned", 1, "business_licence: upload the food business permit"
    for st in status.steps:
        if st.step == "name_check":
            st.state = "completed"
        if st.step == "business_licence":
            st.state, st.reason = "rejected", "upload the food business permit"
    with gw.session() as session:
        record_case(session, status)
    sent = fake_temporal.started[case_id].application
    for lang in ("en", "zh"):
        page = pages.new(PHONE, lang)
        sign_in(page, "applicant", lang)
        page.wait_for_url("**/my-cases")
        page.goto(f"/cases/{case_id}")
        page.wait_for_selector("#returned:not([hidden])")
        assert page.is_visible("#withdraw")
        pages.shoot(page, f"case-returned-{lang}")
    page.click("#returned a")
    page.wait_for_url(f"**/cases/{case_id}/correct")
    page.wait_for_selector("#returned-reason:not([hidden])")
    assert "upload the food business permit" in page.inner_text("#returned-reason")
    assert page.input_value("#company-name") == sent["company"]["name"]
    assert page.input_value("#shareholders-1-share_percent") == "30"
    assert page.input_value("#legal_representative-id_number") == sent["legal_representative"]["id_number"]
    assert_accessible(page)
    pages.shoot(page, "correct-zh")
    page.fill("#company-business_scope", "")
    page.click("#apply button[type=submit]")
    page.wait_for_selector(".error-summary a[href='#company-business_scope']")  # the API's 422, by its field
    page.fill("#company-business_scope", "日用百货销售")
    page.click("#apply button[type=submit]")
    page.wait_for_url(f"**/cases/{case_id}?corrected=1")
    page.wait_for_selector("#corrected")
    (updated, update, correction) = fake_temporal.updates[-1]
    assert (updated, update) == (case_id, CORRECT_UPDATE)
    assert correction.application["company"]["business_scope"] == "日用百货销售"
    assert correction.application["shareholders"] == sent["shareholders"]
    assert page.external_requests == [] and page.script_errors == []


def test_the_applicant_sees_that_the_data_was_erased(pages, awaiting, fake_temporal, served_gateway):
    gw = served_gateway
    status = CaseWorkflow(fake_temporal.started[awaiting]).status()
    status.state, status.revision = "completed", 2
    with gw.session() as session:
        record_case(session, status)
    erased = gw.http.post(
        f"/api/v1/cases/{awaiting}/erasure", json={"reason": "申请人请求删除"}, headers=gw.login("admin")
    )
    assert erased.status_code == 201, erased.text
    page = pages.new(PHONE)
    sign_in(page, "applicant")
    page.wait_for_url("**/my-cases")
    page.click(f"a[href='/cases/{awaiting}']")
    page.wait_for_selector("[data-show=erased]:not([hidden])")
    said = page.inner_text("#case-erased")
    assert said.startswith("已于") and erased.json()["record_case"] in said
    assert_accessible(page)
    pages.shoot(page, "case-erased-zh")
    assert page.external_requests == [] and page.script_errors == []
