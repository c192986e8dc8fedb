"""SME credit at the gateway (Temporal faked, cases recorded as the engine would): consents and loans
only for a company the applicant registered, the product filling in the bank and the reads, a
consent's revocation, a company's view of its consents and the auditor's list of reads after a
consent ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agencies.identifiers import random_uscc
from gateway.casework import record_case
from tests.fixtures.stack import application
from workflows.engine import CaseWorkflow

TODAY = datetime.now(UTC).date()


def completed(gw, fake_temporal, case_id: str, result: dict) -> None:
    """Record a case as the engine would once it completed with ``result``."""
    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    status.state, status.revision, status.result = "completed", 1, result
    for st in status.steps:
        st.state = "completed"
    with gw.session() as session:
        record_case(session, status)


@pytest.fixture
def company(in_process_gateway, fake_temporal) -> str:
    """A company the applicant registered: a completed registration whose licence carries the code."""
    uscc = random_uscc("370102")
    case_id = in_process_gateway.open_case(application())
    completed(in_process_gateway, fake_temporal, case_id, {"uscc": uscc, "company_name": "济南泉智信息科技有限公司"})
    return uscc


def consent(uscc: str, **change) -> dict:
    return {"flow": "sme_credit_consent", "company": {"uscc": uscc}, "banks": ["bank_rural"],
            "data": ["licence", "social_security", "utilities", "court"], "valid_days": 30, **change}  # fmt: skip


def loan(uscc: str, **change) -> dict:
    return {"flow": "sme_credit", "company": {"uscc": uscc}, "product": "rural_startup_credit", "amount_cny": 200000,
            "term_months": 12, "acceptance": {"max_rate_percent": 5, "min_amount_cny": 50000}, **change}  # fmt: skip


def post(gw, body: dict, user: str = "applicant"):
    return gw.http.post("/api/v1/cases", json=body, headers=gw.login(user))


def test_a_consent_for_a_company_of_ones_own_starts_its_flow_with_the_expiry_filled_in(
    in_process_gateway, fake_temporal, company
):
    resp = post(in_process_gateway, consent(company))
    assert resp.status_code == 201, resp.text
    started = fake_temporal.started[resp.json()["case_id"]]
    assert started.flow.name == "sme_credit_consent" and company in resp.json()["company_name"]
    assert started.application["expires_on"] == (TODAY + timedelta(days=30)).isoformat()
    assert "valid_days" not in started.application


def test_a_loan_names_the_bank_and_the_reads_of_its_product(in_process_gateway, fake_temporal, company):
    resp = post(in_process_gateway, loan(company))
    assert resp.status_code == 201, resp.text
    app = fake_temporal.started[resp.json()["case_id"]].application
    assert app["bank"] == "bank_rural"
    assert app["read"] == {"licence": True, "social_security": True, "utilities": True, "court": True}


def test_another_applicants_company_is_refused_naming_the_field(in_process_gateway, fake_temporal, company):
    in_process_gateway.add_user("other-applicant", "applicant")
    for body in (consent(company), loan(company)):
        resp = post(in_process_gateway, body, "other-applicant")
        assert resp.status_code == 422
        assert resp.json()["detail"][0]["loc"] == ["body", "company", "uscc"]
        assert "not the credit code of a company you registered" in resp.json()["detail"][0]["msg"]
    assert len(fake_temporal.started) == 1  # only the registration


def test_a_company_nobody_registered_is_refused(in_process_gateway, fake_temporal, company):
    resp = post(in_process_gateway, loan(random_uscc("370102")))
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "company", "uscc"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (lambda c: consent(c, valid_days=None, expires_on=(TODAY + timedelta(days=400)).isoformat()), "366 days"),
        (lambda c: consent(c, expires_on=(TODAY + timedelta(days=3)).isoformat()), "either expires_on or valid_days"),
        (lambda c: consent(c, valid_days=None), "either expires_on or valid_days"),
        (lambda c: consent(c, banks=["bank_nowhere"]), "bank_qilu"),
        (lambda c: consent(c, banks=["bank_rural", "bank_rural"]), "each item once"),
        (lambda c: consent(c, data=["medical_records"]), "court"),
        (lambda c: loan(c, product="payday_loan"), "rural_startup_credit"),
        (lambda c: loan(c, term_months=7), "offers 12, 24, 36"),
        (lambda c: loan(c, amount_cny=-1), "greater than 0"),
        (lambda c: loan(c, company={"uscc": "91370102MA3C00000X"}), "check"),
    ],
    ids=[
        "expiry-beyond-a-year",
        "both-expiries",
        "no-expiry",
        "unknown-bank",
        "bank-twice",
        "unknown-data",
        "unknown-product",
        "term-not-offered",
        "negative-amount",
        "malformed-code",
    ],  # fmt: skip
)
def test_bad_credit_input_is_refused_at_the_edge(in_process_gateway, fake_temporal, company, body, says):
    resp = post(in_process_gateway, body(company))
    assert resp.status_code == 422 and says in resp.text, resp.text
    assert len(fake_temporal.started) == 1


def test_products_are_public(in_process_gateway):
    products = in_process_gateway.http.get("/api/v1/credit/products").json()
    assert {p["bank"] for p in products} == {"bank_qilu", "bank_rural"} and len(products) >= 4
    assert all(p["rules"] and p["data"] for p in products)


def granted(gw, fake_temporal, uscc: str, consent_id: str = "YDT2026010100000001", expires: int = 30) -> str:
    case_id = post(gw, consent(uscc)).json()["case_id"]
    completed(gw, fake_temporal, case_id, {
        "consent_id": consent_id, "uscc": uscc, "banks": ["bank_rural"], "data": ["licence"],
        "granted_on": TODAY.isoformat(), "expires_on": (TODAY + timedelta(days=expires)).isoformat(),
        "consent_status": "active"})  # fmt: skip
    return consent_id


def test_the_company_sees_its_consents_and_no_one_else_does(in_process_gateway, fake_temporal, company):
    gw = in_process_gateway
    cid = granted(gw, fake_temporal, company)
    expired = granted(gw, fake_temporal, company, "YDT2026010100000002", expires=-1)
    view = gw.http.get(f"/api/v1/credit/companies/{company}", headers=gw.login("applicant")).json()
    assert {c["consent_id"]: c["status"] for c in view["consents"]} == {cid: "active", expired: "expired"}
    assert view["refused"] == [] and all(c["reads"] == [] for c in view["consents"])
    gw.add_user("other-applicant", "applicant")
    assert gw.http.get(f"/api/v1/credit/companies/{company}", headers=gw.login("other-applicant")).status_code == 404


def test_a_revocation_starts_its_flow_for_an_active_consent_of_ones_own(in_process_gateway, fake_temporal, company):
    gw = in_process_gateway
    cid = granted(gw, fake_temporal, company)
    gw.add_user("other-applicant", "applicant")
    assert (
        gw.http.post(f"/api/v1/credit/consents/{cid}/revocation", headers=gw.login("other-applicant")).status_code
        == 404
    )
    resp = gw.http.post(f"/api/v1/credit/consents/{cid}/revocation", headers=gw.login("applicant"))
    assert resp.status_code == 201, resp.text
    started = fake_temporal.started[resp.json()["case_id"]]
    assert started.flow.name == "sme_credit_consent_revocation"
    assert started.application == {"company": {"uscc": company}, "consent_id": cid}
    expired = granted(gw, fake_temporal, company, "YDT2026010100000003", expires=-1)
    late = gw.http.post(f"/api/v1/credit/consents/{expired}/revocation", headers=gw.login("applicant"))
    assert late.status_code == 409 and "expired" in late.text


def test_the_auditor_lists_reads_after_a_consent_ended_and_only_the_auditor(in_process_gateway, fake_temporal, company):
    gw = in_process_gateway
    granted(gw, fake_temporal, company)
    report = gw.http.get("/api/v1/credit/audit", headers=gw.login("auditor")).json()
    assert report == {"consents": 1, "ended": 0, "reads_checked": 0, "violations": []}
    assert gw.http.get("/api/v1/credit/audit", headers=gw.login("applicant")).status_code == 403


KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")  # a test key, no agency's


def anchored(gw, case_id: str, step: str, agency: str, outputs: dict, block: int) -> None:
    """A handoff of ``case_id`` recorded as anchored in ``block`` (as the engine records one)."""
    from chain.anchors import Anchor
    from chain.handoff import Handoff, sign
    from gateway.casework import record_handoff

    record = Handoff(
        flow="f", flow_version="v", rules_version="r", step=step, case="0x" + "ab" * 32, agency=agency,
        outcome="completed", outputs=outputs, decided_by="rule:r", time=f"{TODAY}T01:00:00Z",
    )  # fmt: skip
    signed = sign(record, KEY)
    anchor = Anchor(
        account="0x" + "01" * 20, tx_hash="0x" + "02" * 32, block_number=block, block_hash="0x" + "03" * 32,
        log_index=0, timestamp=0, handoff=signed.hash, agency=agency, case_commitment=record.case, step=step,
    )  # fmt: skip
    with gw.session() as session:
        record_handoff(session, case_id, signed, anchor)


def test_a_read_anchored_after_the_revocation_is_listed_for_the_auditor_and_shown_to_the_company(
    in_process_gateway, fake_temporal, company
):
    gw = in_process_gateway
    cid = granted(gw, fake_temporal, company)
    revocation = gw.http.post(f"/api/v1/credit/consents/{cid}/revocation", headers=gw.login("applicant")).json()
    completed(gw, fake_temporal, revocation["case_id"], {"consent_id": cid, "revoked_on": TODAY.isoformat()})
    anchored(gw, revocation["case_id"], "consent_revoke", "big_data", {"consent_id": cid}, block=20)
    loan_case = post(gw, loan(company)).json()["case_id"]
    read = {"category": "licence", "uscc": company, "consent_id": cid, "read_by": "bank_rural", "product": "p"}
    anchored(gw, loan_case, "read_licence", "market_regulation", {**read, "read_at": f"{TODAY}T00:59:00Z"}, block=19)
    anchored(gw, loan_case, "read_court", "court", {**read, "category": "court", "read_at": f"{TODAY}T01:01:00Z"}, 21)
    report = gw.http.get("/api/v1/credit/audit", headers=gw.login("auditor")).json()
    assert (report["consents"], report["ended"], report["reads_checked"]) == (1, 1, 2)
    assert [(v["step"], v["block_number"]) for v in report["violations"]] == [("read_court", 21)]
    assert "revoked (block 20)" in report["violations"][0]["finding"]
    view = gw.http.get(f"/api/v1/credit/companies/{company}", headers=gw.login("applicant")).json()
    assert [r["step"] for r in view["consents"][0]["reads"]] == ["read_licence", "read_court"]
    assert view["consents"][0]["status"] == "revoked"


def test_the_operators_sweep_starts_one_expiry_record_per_consent_that_ran_out(
    in_process_gateway, fake_temporal, company
):
    gw = in_process_gateway
    granted(gw, fake_temporal, company)
    expired = granted(gw, fake_temporal, company, "YDT2026010100000004", expires=-1)
    assert gw.http.post("/api/v1/credit/expiries", headers=gw.login("auditor")).status_code == 403
    first = gw.http.post("/api/v1/credit/expiries", headers=gw.login("admin")).json()["started"]
    assert len(first) == 1
    started = fake_temporal.started[first[0]]
    assert started.flow.name == "sme_credit_consent_expiry"
    assert started.application == {"company": {"uscc": company}, "consent_id": expired}
    assert gw.http.post("/api/v1/credit/expiries", headers=gw.login("admin")).json()["started"] == []  # under way
    completed(gw, fake_temporal, first[0], {"consent_id": expired, "consent_status": "expired"})
    view = gw.http.get(f"/api/v1/credit/companies/{company}", headers=gw.login("applicant")).json()
    assert {c["consent_id"]: c["expiry_recorded"] for c in view["consents"]}[expired] is True


def test_the_gateways_own_sweep_records_an_expiry_for_the_founder_without_an_admin(
    in_process_gateway, fake_temporal, company
):
    import asyncio

    from gateway.api.credit import sweep_expiries
    from gateway.store import Case

    gw = in_process_gateway
    expired = granted(gw, fake_temporal, company, "YDT2026010100000004", expires=-1)
    with gw.session() as session:
        started = asyncio.run(sweep_expiries(session, fake_temporal, gw.http.app.state.vault))
        assert len(started) == 1 and fake_temporal.started[started[0]].application["consent_id"] == expired
        founder = session.get(Case, started[0]).applicant_id
        assert founder == session.get(Case, next(iter(fake_temporal.started))).applicant_id  # the consent's giver
        assert asyncio.run(sweep_expiries(session, fake_temporal, gw.http.app.state.vault)) == []  # once
