"""SME credit (一贷通) through every layer, on the real embedded stack (`onevisit up`): a company
registered first; a loan refused without a consent; the consent granted; a loan read, decided,
offered, accepted and disbursed, each read an anchored handoff of the agency holding the data; a
product whose rules fail declines with its reasons; the consent revoked, then a loan refused; the
company sees every read, the auditor verifies the trails and finds no read after a consent ended."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agencies.consent import CATEGORIES
from tests.fixtures.http import loopback
from tests.fixtures.stack import ROOT, application, write_application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]  # on the registrations' stack

CONSENT, LOAN = ROOT / "examples" / "sme-credit-consent.json", ROOT / "examples" / "sme-credit.json"


def apply(stack, file: Path, uscc: str) -> dict:
    result = stack.cli_in_process("apply", str(file), "--company", uscc, "--url", stack.url, "--wait", "--json")
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def states(case: dict) -> dict[str, str]:
    return {s["step"]: s["state"] for s in case["steps"]}


def evidence(stack, case_id: str) -> dict[str, dict]:
    body = loopback.get(
        f"{stack.url}/api/v1/cases/{case_id}/evidence", headers=stack.token("auditor"), timeout=60
    ).json()
    return {i["handoff"]["record"]["step"]: i["handoff"] for i in body["handoffs"]}


@pytest.fixture(scope="module")
def company(stack, tmp_path_factory) -> str:
    path = write_application(tmp_path_factory.mktemp("reg"), application())
    done = json.loads(
        stack.cli_in_process("apply", str(path), "--url", stack.url, "--wait", "--json", check=True).stdout
    )
    return done["uscc"]


@pytest.fixture(scope="module")
def refused_first(stack, company) -> dict:
    return apply(stack, LOAN, company)


@pytest.fixture(scope="module")
def consent(stack, company, refused_first) -> dict:
    return apply(stack, CONSENT, company)


@pytest.fixture(scope="module")
def loan(stack, company, consent) -> dict:
    return apply(stack, LOAN, company)


def test_without_a_consent_the_read_is_refused_by_an_anchored_handoff(stack, refused_first, company):
    case = refused_first
    assert case["status"] == "rejected" and "has granted no consent" in case["reason"]
    assert states(case)["consent_check"] == "rejected" and case["steps"][0]["anchor"]["block_number"] > 0
    assert all(states(case)[step] == "cancelled" for _, step in CATEGORIES.values())  # nothing read
    signed = evidence(stack, case["case_id"])["consent_check"]
    assert signed["record"]["outcome"] == "rejected" and signed["record"]["outputs"]["code"] == "NoConsent"
    assert stack.cli_in_process("audit", "verify", case["case_id"], "--url", stack.url).returncode == 0


def test_the_consent_is_recorded_and_anchored_by_the_platform(stack, consent, company):
    assert consent["status"] == "completed", consent
    result = consent["result"]
    assert result["uscc"] == company and result["consent_status"] == "active"
    assert set(result["banks"]) == {"bank_qilu", "bank_rural"} and set(result["data"]) == set(CATEGORIES)
    assert stack.cli_in_process("audit", "verify", consent["case_id"], "--url", stack.url).returncode == 0


def test_a_consented_loan_is_read_decided_offered_accepted_and_disbursed(stack, loan, consent, company):
    assert loan["status"] == "completed", loan
    s = states(loan)
    read = {"read_licence", "read_social_security", "read_utilities", "read_court"}  # what the product reads
    assert all(s[step] == "completed" for step in read) and s["read_tax"] == s["read_housing_fund"] == "skipped"
    for step in ("credit_decision", "credit_offer", "offer_acceptance", "disbursement"):
        assert (s[f"{step}_rural"], s[f"{step}_qilu"]) == ("completed", "skipped")
    assert loan["result"]["disbursed_cny"] == 300_000 and loan["result"]["borrower_uscc"] == company
    assert "the business licence is valid" in loan["result"]["reasons"]


def test_each_read_is_signed_and_anchored_by_the_agency_holding_the_data_under_the_consent(stack, loan, consent):
    agencies, trail = stack.deployment()["agencies"], evidence(stack, loan["case_id"])
    consent_id = consent["result"]["consent_id"]
    assert trail["consent_check"]["record"]["outputs"]["consent_id"] == consent_id  # the trail back to the consent
    by_step = {s["step"]: s for s in loan["steps"]}
    for category, (agency, step) in CATEGORIES.items():
        if by_step[step]["state"] == "skipped":
            continue
        handoff = trail[step]
        assert (
            handoff["signer"] == agencies[agency]["signer"]
            and by_step[step]["anchor"]["account"] == agencies[agency]["account"]
        )
        out = handoff["record"]["outputs"]
        assert (out["category"], out["consent_id"], out["read_by"]) == (category, consent_id, "bank_rural")
        assert trail["consent_check"]["hash"] in handoff["record"]["parents"]
    report = json.loads(stack.cli_in_process("audit", "verify", loan["case_id"], "--url", stack.url, "--json").stdout)
    assert report["ok"] and report["closed"] == "completed"


def test_the_auditor_verifies_a_loans_trail_back_to_its_consent(stack, loan, consent):
    result = stack.cli("audit", "loan", loan["case_id"], "--url", stack.url, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] and report["links"] == []
    assert report["consent_id"] == consent["result"]["consent_id"]
    assert [t["case_id"] for t in report["trails"]][:2] == [loan["case_id"], consent["case_id"]]
    assert all(t["ok"] and t["online"] for t in report["trails"])


def test_a_product_whose_rules_fail_declines_with_its_reasons(stack, company, consent, tmp_path):
    app = json.loads(LOAN.read_text()) | {"product": "qilu_tax_credit", "amount_cny": 500_000}
    case = apply(stack, write_application(tmp_path, app), company)
    assert case["status"] == "rejected" and states(case)["credit_decision_qilu"] == "rejected"
    assert "less than 24 months" in case["reason"] and "tax credit rating is not A or B" in case["reason"]
    assert states(case)["read_tax"] == "completed"  # read under the consent, then declined


def test_after_revocation_every_read_is_refused_and_the_company_sees_it_all(stack, company, consent, loan):
    consent_id, headers = consent["result"]["consent_id"], stack.token("applicant")
    resp = loopback.post(f"{stack.url}/api/v1/credit/consents/{consent_id}/revocation", headers=headers, timeout=60)
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["case_id"]
    while (case := loopback.get(f"{stack.url}/api/v1/cases/{case_id}", headers=headers, timeout=60).json())[
        "status"
    ] == "running":
        time.sleep(0.3)
    assert case["status"] == "completed" and case["result"]["consent_status"] == "revoked"
    after = apply(stack, LOAN, company)
    assert after["status"] == "rejected" and states(after)["consent_check"] == "rejected"
    assert f"consent {consent_id} was revoked" in after["reason"]
    view = loopback.get(f"{stack.url}/api/v1/credit/companies/{company}", headers=headers, timeout=60).json()
    mine = next(c for c in view["consents"] if c["consent_id"] == consent_id)
    assert mine["status"] == "revoked"
    assert {r["case_id"] for r in mine["reads"]} >= {loan["case_id"]} and len(mine["reads"]) >= 4
    refused = {r["case_id"]: r["code"] for r in view["refused"]}
    assert refused[after["case_id"]] == "ConsentRevoked" and "NoConsent" in refused.values()
    audit = json.loads(stack.cli("audit", "consents", "--url", stack.url, "--json", check=True).stdout)
    assert audit["violations"] == [] and audit["ended"] >= 1 and audit["reads_checked"] >= 4
    again = json.loads(
        stack.cli_in_process("audit", "loan", loan["case_id"], "--url", stack.url, "--json", check=True).stdout
    )
    assert [t["case_id"] for t in again["trails"]] == [loan["case_id"], consent["case_id"], case_id]  # the revocation's
    assert again["ok"] and again["links"] == []  # every read of the loan was anchored before the revocation


def test_the_lending_banks_clerks_see_the_loan_and_the_other_bank_does_not(stack, loan):
    rural = loopback.get(f"{stack.url}/api/v1/cases", headers=stack.token("clerk-bank_rural"), timeout=60).json()
    qilu = loopback.get(f"{stack.url}/api/v1/cases", headers=stack.token("clerk-bank_qilu"), timeout=60).json()
    assert loan["case_id"] in {c["case_id"] for c in rural}
    assert loan["case_id"] not in {c["case_id"] for c in qilu}


def test_a_loan_for_a_company_one_did_not_register_is_refused_at_the_edge(stack, tmp_path):
    from agencies.identifiers import random_uscc

    result = stack.cli_in_process("apply", str(LOAN), "--company", random_uscc("370102"), "--url", stack.url)
    assert result.returncode != 0 and "not the credit code of a company you registered" in result.stdout + result.stderr


def test_a_bank_the_consent_does_not_name_and_data_it_does_not_cover_are_refused(stack, tmp_path):
    path = write_application(tmp_path, application())
    uscc = json.loads(
        stack.cli_in_process("apply", str(path), "--url", stack.url, "--wait", "--json", check=True).stdout
    )["uscc"]
    narrow = json.loads(CONSENT.read_text()) | {"banks": ["bank_rural"], "data": ["licence", "social_security"]}
    assert apply(stack, write_application(tmp_path, narrow), uscc)["status"] == "completed"
    qilu = json.loads(LOAN.read_text()) | {"product": "qilu_payroll_credit", "amount_cny": 100_000}
    for body, code, says in (
        (qilu, "BankNotConsented", "does not name bank_qilu"),
        (json.loads(LOAN.read_text()), "DataNotConsented", "does not cover court, utilities"),
    ):
        case = apply(stack, write_application(tmp_path, body), uscc)
        assert case["status"] == "rejected" and says in case["reason"], case["reason"]
        assert evidence(stack, case["case_id"])["consent_check"]["record"]["outputs"]["code"] == code
        assert all(s["state"] in ("rejected", "cancelled") for s in case["steps"])  # nothing read
