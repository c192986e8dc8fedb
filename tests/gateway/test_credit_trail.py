"""What links a loan's trail to its consent's, checked from the bundles alone: an honest pair has no
finding; each way a read can stray from its consent is named (bundles built here from signed
handoffs; each bundle's own verification is tested in tests/chain)."""

from __future__ import annotations

import pytest

from chain.anchors import Anchor
from chain.audit.evidence import EvidenceBundle, EvidenceItem
from chain.handoff import Handoff, sign
from gateway.credit_trail import consent_of, link_findings

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")  # a test key, no agency's
USCC, CID = "91370102MA3C4G5H6J", "YDT2026120400000001"


def item(
    step: str, agency: str, outputs: dict, block: int, parents=(), time="2026-12-04T01:00:00Z", outcome="completed"
):
    record = Handoff(
        flow="f", flow_version="v", rules_version="r", step=step, case="0x" + "ab" * 32, agency=agency,
        outcome=outcome, outputs=outputs, parents=[p.handoff.hash for p in parents], decided_by="rule:r", time=time,
    )  # fmt: skip
    signed = sign(record, KEY)
    anchor = Anchor(
        account="0x" + "01" * 20, tx_hash="0x" + "02" * 32, block_number=block, block_hash="0x" + "03" * 32,
        log_index=0, timestamp=0, handoff=signed.hash, agency=agency, case_commitment=record.case, step=step,
    )  # fmt: skip
    return EvidenceItem(handoff=signed, anchor=anchor)


def bundle(case_id: str, *items: EvidenceItem) -> EvidenceBundle:
    return EvidenceBundle.model_construct(case_id=case_id, handoffs=list(items))


GRANT = bundle("CON", item("consent_grant", "big_data", {
    "consent_id": CID, "uscc": USCC, "banks": ["bank_rural"], "data": ["licence", "court"],
    "expires_on": "2026-12-31"}, block=10))  # fmt: skip


def loan(*, read_by="bank_rural", category="licence", read_block=13, time="2026-12-04T01:00:00Z", check_block=12):
    check = item("consent_check", "big_data", {"consent_id": CID, "uscc": USCC, "bank": "bank_rural"}, check_block)
    read = item(f"read_{category}", "market_regulation", {"consent_id": CID, "uscc": USCC, "read_by": read_by,
                "category": category}, read_block, parents=[check], time=time)  # fmt: skip
    return bundle("LOAN", check, read)


def test_an_honest_loan_links_to_its_consent():
    assert consent_of(loan()) == CID and link_findings(loan(), GRANT) == []


@pytest.mark.parametrize(
    ("changed", "check", "says"),
    [
        ({"read_by": "bank_qilu"}, "consent", "not the bank checked"),
        ({"category": "tax"}, "consent", "tax is not data the consent covers"),
        ({"time": "2027-01-02T00:00:00Z"}, "ended", "after the consent's last day"),
        ({"check_block": 9, "read_block": 11}, "order", "anchored before the consent it names"),
    ],
    ids=["another-bank", "data-outside", "after-expiry", "checked-before-granted"],
)
def test_a_read_straying_from_its_consent_is_named(changed, check, says):
    findings = link_findings(loan(**changed), GRANT)
    assert [f.check for f in findings] == [check] and says in findings[0].message


def test_a_read_anchored_after_the_revocation_is_named():
    revoked = bundle("REV", item("consent_revoke", "big_data", {"consent_id": CID}, block=14))
    assert link_findings(loan(read_block=13), GRANT, revoked) == []
    late = link_findings(loan(read_block=15), GRANT, revoked)
    assert [(f.check, f.step) for f in late] == [("ended", "read_licence")] and "block 14" in late[0].message


def test_a_grant_of_another_consent_or_company_is_named():
    other = bundle("CON2", item("consent_grant", "big_data", {
        "consent_id": "YDT2026120400000002", "uscc": USCC, "banks": ["bank_rural"], "data": ["licence"],
        "expires_on": "2026-12-31"}, block=10))  # fmt: skip
    findings = link_findings(loan(), other)
    assert {f.check for f in findings} == {"consent"} and "the grant records YDT2026120400000002" in findings[0].message


def test_a_refused_check_needs_no_consent_but_a_read_after_it_is_named():
    refused = item("consent_check", "big_data", {"reason": "no consent", "code": "NoConsent"}, 12, outcome="rejected")
    assert consent_of(bundle("LOAN", refused)) is None and link_findings(bundle("LOAN", refused), None) == []
    read = item("read_licence", "market_regulation", {"consent_id": CID}, 13)
    findings = link_findings(bundle("LOAN", refused, read), None)
    assert [f.step for f in findings] == ["read_licence"] and "no consent check did" in findings[0].message
    assert "no trail records the consent" in link_findings(loan(), None)[0].message
