"""The certificates the agencies issue after the licence, read back as a person would (PDFium's
text): each carries what its agency signed (the seal numbers, the taxpayer type, the accounts),
the company, the issuing agency and date, and the handoff and anchor to check it by."""

from __future__ import annotations

import pypdfium2
import pytest

from agencies.accounts import invoice_quota, random_bank_account, random_housing_fund_account, social_insurances
from agencies.certificates import KINDS, Certificate, NotACertificate, render_certificate
from agencies.identifiers import random_seal_number, random_uscc
from agencies.paper import UnsafeText
from agencies.simulated import SEAL_KINDS

USCC = random_uscc("370102")
LICENCE = {"uscc": USCC, "company_name": "济南泉智信息科技有限公司", "licence_date": "2026-11-22"}
ANCHOR = {"handoff": "0x" + "ab" * 32, "block_number": 42, "tx_hash": "0x" + "cd" * 32}
OUTPUTS = {
    "seal_approval": ("public_security", {"seals": [{"kind": k, "number": random_seal_number()} for k in SEAL_KINDS]}),
    "tax_registration": (
        "tax",
        {
            "taxpayer_id": USCC,
            "taxpayer_type": "small_scale",
            "declared_annual_sales_cny": 1_200_000,
            "tax_office": "国家税务总局济南市历下区税务局",
            "invoice_quota": invoice_quota(),
        },
    ),
    "social_security": (
        "human_resources",
        {"social_security_employer_id": USCC, "insured_staff": 5, "insurances": social_insurances(5)},
    ),
    "housing_fund": (
        "housing_fund",
        {"housing_fund_unit_account": random_housing_fund_account("370102"), "unit_uscc": USCC, "insured_staff": 5},
    ),
    "bank_account": ("bank", {"basic_account": random_bank_account(), "account_holder_uscc": USCC}),
}


def record(step: str, outcome: str = "completed", time: str = "2026-11-22T17:30:00.000Z") -> dict:
    agency, outputs = OUTPUTS[step]
    return {"step": step, "agency": agency, "outcome": outcome, "outputs": outputs, "time": time}


def text_of(pdf: bytes) -> tuple[int, list[str]]:
    doc = pypdfium2.PdfDocument(pdf)
    return len(doc), doc[0].get_textpage().get_text_bounded().splitlines()


@pytest.mark.parametrize("step", list(KINDS))
def test_every_certificate_is_one_page_with_its_agency_date_and_anchor(step):
    cert = Certificate.issued(record(step), ANCHOR, LICENCE, "br-test-1")
    pages, lines = text_of(render_certificate(cert))
    assert pages == 1
    assert lines[:2] == [KINDS[step].title_zh, KINDS[step].title_en]
    assert "济南泉智信息科技有限公司" in lines and USCC in lines
    assert cert.agency_zh in " ".join(lines)
    assert "2026年11月23日" in lines  # 17:30 UTC is the next day in Beijing
    assert f"签名记录 Handoff {ANCHOR['handoff']}" in lines and "存证区块 Ledger block #42" in lines
    assert "核验 Check onevisit audit verify br-test-1" in lines


def test_the_seal_filing_lists_every_seal_with_its_number():
    seals = OUTPUTS["seal_approval"][1]["seals"]
    _pages, lines = text_of(render_certificate(Certificate.issued(record("seal_approval"), ANCHOR, LICENCE, "br-1")))
    assert "公章 Official seal " + seals[0]["number"] in lines
    assert "发票专用章 Invoice seal " + seals[2]["number"] in lines
    assert all(any(line.endswith(s["number"]) for line in lines) for s in seals)


def test_tax_housing_and_bank_show_what_their_agency_signed():
    _p, tax = text_of(render_certificate(Certificate.issued(record("tax_registration"), ANCHOR, LICENCE, "br-1")))
    assert "小规模纳税人（small-scale taxpayer）" in tax and "国家税务总局济南市历下区税务局" in tax
    _p, fund = text_of(render_certificate(Certificate.issued(record("housing_fund"), ANCHOR, LICENCE, "br-1")))
    assert OUTPUTS["housing_fund"][1]["housing_fund_unit_account"] in fund
    _p, bank = text_of(render_certificate(Certificate.issued(record("bank_account"), ANCHOR, LICENCE, "br-1")))
    assert OUTPUTS["bank_account"][1]["basic_account"] in bank


@pytest.mark.parametrize("outcome", ["compensated", "rejected", "escalated"])
def test_only_a_completed_handoff_issues_one(outcome):
    with pytest.raises(NotACertificate, match=f"a {outcome} seal_approval handoff issues no certificate"):
        Certificate.issued(record("seal_approval", outcome), ANCHOR, LICENCE, "br-1")


def test_a_step_that_issues_nothing_is_refused():
    name_check = {**record("bank_account"), "step": "name_check"}
    with pytest.raises(NotACertificate, match="name_check"):
        Certificate.issued(name_check, ANCHOR, LICENCE, "br-1")


def test_a_control_character_in_what_was_signed_never_reaches_the_pdf():
    bad = record("tax_registration")
    bad["outputs"] = {**bad["outputs"], "tax_office": "国家税务总局\u202e局务税"}
    with pytest.raises(UnsafeText, match="rows\\[2\\] contains a control or invisible character"):
        Certificate.issued(bad, ANCHOR, LICENCE, "br-1")


def test_the_same_handoff_renders_the_same_bytes():
    cert = Certificate.issued(record("seal_approval"), ANCHOR, LICENCE, "br-1")
    assert render_certificate(cert) == render_certificate(cert)
