"""SME credit (一贷通) at the agencies, on real simulated back-ends sharing one state directory: a
company registered by market regulation, tax, human resources and the housing fund grants a consent
at the big data bureau, a bank's product reads under it, decides, offers and lends; reads without a
valid consent are refused (no consent, a bank or data it does not name, expired, revoked)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from agencies.backend import Refused
from agencies.consent import CATEGORIES
from agencies.credit import _today
from agencies.directory import BANKS
from agencies.products import Product, products
from agencies.simulated import SimulatedBackend
from chain.handoff import Handoff, SignedHandoff, sign
from tests.fixtures.stack import application
from workflows.catalog import get_flow
from workflows.messages import StepInput

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")  # a test key, no agency's
COMMITMENT = "0x" + "ab" * 32


class Agencies:
    """One simulated back-end per agency, in one directory (as the registers expect to find each other)."""

    def __init__(self, state_dir):
        self.state_dir, self._backends = state_dir, {}

    def backend(self, agency: str) -> SimulatedBackend:
        if agency not in self._backends:
            self._backends[agency] = SimulatedBackend(agency, self.state_dir, latency_s=0)
        return self._backends[agency]

    def step(self, flow: str, step: str, case: str, app: dict, parents=()) -> SignedHandoff:
        """The agency owning ``step`` performs it; its outputs come back as a signed handoff (Refused raised)."""
        definition = get_flow(flow)
        agency = definition.step(step).agency
        request = StepInput(
            key=f"{case}/{step}/1", case_id=case, flow=flow, flow_version=definition.version_hash(),
            rules_version="r", step=step, agency=agency, commitment=COMMITMENT, application=app,
            parents=list(parents), decided_by="rule:test",
        )  # fmt: skip
        outputs = self.backend(agency).perform(request)
        record = Handoff(
            flow=flow, flow_version="v", rules_version="r", step=step, case=COMMITMENT, agency=agency,
            outcome="completed", outputs=outputs, parents=[p.hash for p in parents], decided_by="rule:test",
            time="2026-01-01T00:00:00Z",
        )  # fmt: skip
        return sign(record, KEY)


@pytest.fixture
def gov(tmp_path) -> Agencies:
    return Agencies(tmp_path)


def register_company(gov: Agencies, case: str = "REG-1", employees: int = 6) -> str:
    app = application()
    app["employees"] = employees
    flow = "business_registration"
    name = gov.step(flow, "name_check", case, app)
    licence = gov.step(flow, "business_licence", case, app, [name])
    for step in ("tax_registration", "social_security", "housing_fund"):
        gov.step(flow, step, case, app, [licence])
    return licence.record.outputs["uscc"]


def grant(gov: Agencies, uscc: str, case: str = "CON-1", banks=("bank_rural",), data=tuple(CATEGORIES), days=90):
    app = {"company": {"uscc": uscc}, "banks": list(banks), "data": list(data),
           "expires_on": (_today() + timedelta(days=days)).isoformat()}  # fmt: skip
    return gov.step("sme_credit_consent", "consent_grant", case, app).record.outputs


def loan(uscc: str, product: str = "rural_startup_credit", amount: int = 200_000, **acceptance) -> dict:
    p = products()[product]
    return {"company": {"uscc": uscc}, "bank": p.bank, "product": product, "amount_cny": amount, "term_months": 12,
            "read": dict.fromkeys(p.data, True),
            "acceptance": {"max_rate_percent": 5.0, "min_amount_cny": 30_000, **acceptance}}  # fmt: skip


def reads(gov: Agencies, case: str, app: dict):
    check = gov.step("sme_credit", "consent_check", case, app)
    done = [
        gov.step("sme_credit", step, case, app, [check])
        for category, (_, step) in CATEGORIES.items()
        if app["read"].get(category)
    ]
    return check, done


def refusal(fn, *args, **kwargs) -> Refused:
    with pytest.raises(Refused) as err:
        fn(*args, **kwargs)
    return err.value


def test_a_consented_loan_is_read_decided_offered_accepted_and_disbursed(gov):
    uscc = register_company(gov, employees=6)
    consent = grant(gov, uscc)
    assert consent["consent_status"] == "active" and consent["consent_id"].startswith("YDT")
    app = loan(uscc, amount=800_000)
    check, done = reads(gov, "LOAN-1", app)
    assert check.record.outputs["consent_id"] == consent["consent_id"]
    assert {h.record.step for h in done} == {"read_licence", "read_social_security", "read_utilities", "read_court"}
    for h in done:  # who read what, when, under which consent
        out = h.record.outputs
        assert (out["uscc"], out["read_by"], out["consent_id"]) == (uscc, "bank_rural", consent["consent_id"])
        assert out["served_by"] == CATEGORIES[out["category"]][0] and out["read_at"]
    by = {h.record.outputs["category"]: h.record.outputs for h in done}
    assert by["licence"]["licence"]["status"] == "valid" and by["licence"]["licence"]["months_since_issue"] == 0
    assert by["social_security"]["social_security"]["headcount"] == 6
    assert by["court"]["court"] == {"open_cases": 0, "closed_cases": 0, "cases": []}
    decision = gov.step("sme_credit", "credit_decision_rural", "LOAN-1", app, done)
    out = decision.record.outputs
    assert out["decision"] == "approved" and out["amount_cny"] == 500_000  # the product's maximum, not 800,000
    assert "the business licence is valid" in out["reasons"] and out["rate_percent"] == 4.35
    offer = gov.step("sme_credit", "credit_offer_rural", "LOAN-1", app, [decision])
    accepted = gov.step("sme_credit", "offer_acceptance_rural", "LOAN-1", app, [offer])
    paid = gov.step("sme_credit", "disbursement_rural", "LOAN-1", app, [accepted]).record.outputs
    assert paid["disbursed_cny"] == 500_000 and paid["borrower_uscc"] == uscc
    assert paid["contract_number"] == accepted.record.outputs["contract_number"]


def test_a_product_whose_rules_fail_declines_with_every_reason(gov):
    uscc = register_company(gov)
    grant(gov, uscc, banks=("bank_qilu",))
    app = loan(uscc, "qilu_tax_credit", 500_000)
    _, done = reads(gov, "LOAN-2", app)
    tax = next(h.record.outputs["tax"] for h in done if h.record.step == "read_tax")
    assert tax["registered"] and tax["credit_rating"] == "M" and tax["paid_last_12_months_cny"] == 0  # new taxpayer
    declined = refusal(gov.step, "sme_credit", "credit_decision_qilu", "LOAN-2", app, done)
    assert declined.code == "CreditDeclined"
    assert "less than 24 months" in declined.reason and "tax credit rating is not A or B" in declined.reason
    assert "licence is not valid" not in declined.reason


def test_an_open_court_case_or_utility_arrears_declines(gov):
    uscc = register_company(gov)
    grant(gov, uscc)
    gov.backend("court").store.db.execute(
        "INSERT INTO court_cases VALUES ('(2026)鲁01执1234号', ?, 'enforcement', 'open', '2026-01-05', 86000)", (uscc,)
    )
    gov.backend("utilities").store.db.execute("INSERT INTO utility_arrears VALUES (?, 2)", (uscc,))
    app = loan(uscc)
    _, done = reads(gov, "LOAN-3", app)
    declined = refusal(gov.step, "sme_credit", "credit_decision_rural", "LOAN-3", app, done)
    assert "open court judgment" in declined.reason and "arrears" in declined.reason


def test_without_any_consent_the_check_refuses(gov):
    uscc = register_company(gov)
    refused = refusal(gov.step, "sme_credit", "consent_check", "LOAN-4", loan(uscc))
    assert refused.code == "NoConsent" and uscc in refused.reason


def test_a_bank_the_consent_does_not_name_is_refused(gov):
    uscc = register_company(gov)
    grant(gov, uscc, banks=("bank_rural",))
    refused = refusal(gov.step, "sme_credit", "consent_check", "LOAN-5", loan(uscc, "qilu_payroll_credit"))
    assert refused.code == "BankNotConsented" and "bank_qilu" in refused.reason


def test_data_outside_the_consent_is_refused(gov):
    uscc = register_company(gov)
    grant(gov, uscc, data=("licence", "social_security", "utilities"))  # no court records
    refused = refusal(gov.step, "sme_credit", "consent_check", "LOAN-6", loan(uscc))
    assert refused.code == "DataNotConsented" and "court" in refused.reason
    app = loan(uscc)  # nor may an application ask for more than its product reads and the consent covers
    app["read"] = {"licence": True}
    assert refusal(gov.step, "sme_credit", "consent_check", "LOAN-6b", app).code == "DataNotConsented"


def test_an_expired_consent_is_refused_and_its_expiry_is_recorded(gov):
    uscc = register_company(gov)
    consent = grant(gov, uscc)
    db = gov.backend("big_data").store.db
    yesterday = (_today() - timedelta(days=1)).isoformat()
    db.execute("UPDATE consents SET expires_on=? WHERE consent_id=?", (yesterday, consent["consent_id"]))
    refused = refusal(gov.step, "sme_credit", "consent_check", "LOAN-7", loan(uscc))
    assert refused.code == "ConsentExpired" and yesterday in refused.reason
    row = db.execute("SELECT status, ended_on FROM consents WHERE consent_id=?", (consent["consent_id"],)).fetchone()
    assert row == ("expired", yesterday)  # kept although the step was refused


def test_a_revoked_consent_stops_the_reads_still_to_come(gov):
    uscc = register_company(gov)
    consent = grant(gov, uscc)
    app = loan(uscc)
    check = gov.step("sme_credit", "consent_check", "LOAN-8", app)
    gov.step("sme_credit", "read_licence", "LOAN-8", app, [check])
    revoke = {"company": {"uscc": uscc}, "consent_id": consent["consent_id"]}
    revoked = gov.step("sme_credit_consent_revocation", "consent_revoke", "REV-1", revoke).record.outputs
    assert revoked["consent_status"] == "revoked" and revoked["revoked_on"] == _today().isoformat()
    late = refusal(gov.step, "sme_credit", "read_court", "LOAN-8", app, [check])  # checked before, read after
    assert late.code == "ConsentRevoked"
    assert refusal(gov.step, "sme_credit", "consent_check", "LOAN-9", app).code == "ConsentRevoked"
    again = refusal(gov.step, "sme_credit_consent_revocation", "consent_revoke", "REV-2", revoke)
    assert again.code == "ConsentEnded"


def test_one_companys_consent_covers_no_other_and_only_it_may_revoke_it(gov):
    ours, theirs = register_company(gov, "REG-A"), register_company(gov, "REG-B")
    consent = grant(gov, ours)
    assert refusal(gov.step, "sme_credit", "consent_check", "LOAN-10", loan(theirs)).code == "NoConsent"
    revoke = {"company": {"uscc": theirs}, "consent_id": consent["consent_id"]}
    assert refusal(gov.step, "sme_credit_consent_revocation", "consent_revoke", "REV-3", revoke).code == "NoConsent"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"banks": ["bank_nowhere"]}, "BanksInvalid"),
        ({"banks": []}, "BanksInvalid"),
        ({"data": ["medical_records"]}, "DataInvalid"),
        ({"expires_on": "2020-01-01"}, "ExpiryInvalid"),
        ({"expires_on": "2099-01-01"}, "ExpiryInvalid"),
        ({"company": {"uscc": "91370102MA3C00000X"}}, "CreditCodeInvalid"),
    ],
    ids=["unknown-bank", "no-bank", "unknown-data", "expiry-past", "expiry-beyond-a-year", "malformed-code"],
)
def test_a_consent_the_platform_cannot_record_is_refused(gov, change, code):
    uscc = register_company(gov)
    app = {"company": {"uscc": uscc}, "banks": ["bank_rural"], "data": ["licence"],
           "expires_on": (_today() + timedelta(days=30)).isoformat(), **change}  # fmt: skip
    assert refusal(gov.step, "sme_credit_consent", "consent_grant", "CON-X", app).code == code


def test_a_licence_nobody_issued_cannot_consent(gov):
    from agencies.identifiers import random_uscc

    refused = refusal(grant, gov, random_uscc("370102"))
    assert refused.code == "LicenceNotValid"


def test_an_offer_outside_the_companys_terms_is_declined_and_nothing_is_lent(gov):
    uscc = register_company(gov)
    grant(gov, uscc)
    app = loan(uscc, max_rate_percent=4.0)
    _, done = reads(gov, "LOAN-11", app)
    decision = gov.step("sme_credit", "credit_decision_rural", "LOAN-11", app, done)
    offer = gov.step("sme_credit", "credit_offer_rural", "LOAN-11", app, [decision])
    declined = refusal(gov.step, "sme_credit", "offer_acceptance_rural", "LOAN-11", app, [offer])
    assert declined.code == "OfferDeclined" and "4.35" in declined.reason


def test_the_catalogue_has_two_products_at_each_of_two_banks_and_rules_only_on_what_they_read():
    by_bank = {b: [p for p in products().values() if p.bank == b] for b in BANKS}
    assert len(by_bank) >= 2 and all(len(ps) >= 2 for ps in by_bank.values())
    base = products()["rural_startup_credit"].model_dump()
    with pytest.raises(ValidationError, match="rules on data it does not read: tax.paid"):
        Product.model_validate({**base, "limit": {"field": "tax.paid_last_12_months_cny", "multiple": 1}})
    with pytest.raises(ValidationError, match="not a lending bank"):
        Product.model_validate({**base, "bank": "bank"})


def test_each_credit_step_of_the_flows_has_a_handler_at_its_agency(gov):
    for flow in ("sme_credit", "sme_credit_consent", "sme_credit_consent_revocation", "sme_credit_consent_expiry"):
        for step in get_flow(flow).steps:
            assert step.id in gov.backend(step.agency)._handlers, f"{flow}.{step.id}"


def test_an_expiry_is_recorded_only_once_the_last_day_has_passed(gov):
    uscc = register_company(gov)
    consent = grant(gov, uscc)
    ask = {"company": {"uscc": uscc}, "consent_id": consent["consent_id"]}
    early = refusal(gov.step, "sme_credit_consent_expiry", "consent_expire", "EXP-1", ask)
    assert early.code == "ConsentNotExpired"
    yesterday = (_today() - timedelta(days=1)).isoformat()
    gov.backend("big_data").store.db.execute("UPDATE consents SET expires_on=?", (yesterday,))
    assert refusal(gov.step, "sme_credit_consent_revocation", "consent_revoke", "REV-4", ask).code == "ConsentEnded"
    done = gov.step("sme_credit_consent_expiry", "consent_expire", "EXP-2", ask).record.outputs
    assert (done["consent_status"], done["expired_on"]) == ("expired", yesterday)
    assert refusal(gov.step, "sme_credit", "consent_check", "LOAN-12", loan(uscc)).code == "ConsentExpired"


def test_a_revoked_consent_does_not_expire_and_another_companys_cannot_be_expired(gov):
    ours, theirs = register_company(gov, "REG-C"), register_company(gov, "REG-D")
    consent = grant(gov, ours)
    ask = {"company": {"uscc": ours}, "consent_id": consent["consent_id"]}
    gov.step("sme_credit_consent_revocation", "consent_revoke", "REV-5", ask)
    gov.backend("big_data").store.db.execute("UPDATE consents SET expires_on='2020-01-01'")
    assert refusal(gov.step, "sme_credit_consent_expiry", "consent_expire", "EXP-3", ask).code == "ConsentEnded"
    other = {**ask, "company": {"uscc": theirs}}
    assert refusal(gov.step, "sme_credit_consent_expiry", "consent_expire", "EXP-4", other).code == "NoConsent"
