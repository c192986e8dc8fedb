"""GET /api/v1/cases/{id}/documents and /documents/{step}.pdf: the applicant lists and downloads what
each agency issued on their registration, each certificate made from the signed handoff and
naming it; a clerk only their own agency's; nobody else any; a step that issued nothing, or was
undone by a withdrawal, has nothing to download."""

from __future__ import annotations

import secrets

import pypdfium2
import pytest
from typer.testing import CliRunner

from agencies.identifiers import random_uscc
from chain.handoff import sign
from gateway.casework import record_case, record_handoff
from tests.agencies.test_certificates import OUTPUTS
from tests.fixtures.stack import application
from tests.gateway.test_public_licence import licence_handoff
from workflows.engine import CaseWorkflow


def record_step(gw, case_id: str, step: str, agency: str, outputs: dict, outcome: str = "completed", block: int = 7):
    """Record a signed, anchored handoff of ``step`` on ``case_id``; returns its hash."""
    signed, anchor = licence_handoff("", outcome, step=step)
    signed = sign(signed.record.model_copy(update={"agency": agency, "outputs": outputs}), secrets.token_bytes(32))
    with gw.session() as session:
        record_handoff(
            session, case_id, signed, anchor.model_copy(update={"handoff": signed.hash, "block_number": block})
        )
    return signed.hash


@pytest.fixture
def issued(in_process_gateway):
    """The applicant's case with its licence, seals and tax registration issued: (gw, case id, uscc, hashes)."""
    gw = in_process_gateway
    app = application()
    case_id = gw.open_case(app)
    uscc = random_uscc("370102")
    name = app["company"]["name"]
    hashes = {
        "business_licence": record_step(
            gw,
            case_id,
            "business_licence",
            "market_regulation",
            {"uscc": uscc, "company_name": name, "licence_date": "2026-11-22"},
        )
    }
    for step in ("seal_approval", "tax_registration"):
        agency, outputs = OUTPUTS[step]
        hashes[step] = record_step(gw, case_id, step, agency, outputs, block=8)
    return gw, case_id, uscc, hashes


def listing(gw, case_id: str, user: str = "applicant"):
    return gw.http.get(f"/api/v1/cases/{case_id}/documents", headers=gw.login(user))


def pdf(gw, case_id: str, step: str, user: str = "applicant"):
    return gw.http.get(f"/api/v1/cases/{case_id}/documents/{step}.pdf", headers=gw.login(user))


def test_the_applicant_lists_what_was_issued_with_the_handoff_and_anchor_of_each(issued):
    gw, case_id, uscc, hashes = issued
    resp = listing(gw, case_id)
    assert resp.status_code == 200, resp.text
    docs = resp.json()
    assert [(d["step"], d["kind"], d["agency"]) for d in docs] == [
        ("business_licence", "business_licence", "market_regulation"),
        ("seal_approval", "seal_filing", "public_security"),
        ("tax_registration", "tax_registration", "tax"),
    ]
    assert [d["handoff"] for d in docs] == [hashes[d["step"]] for d in docs]
    assert docs[1]["anchor"]["block_number"] == 8 and docs[1]["title_zh"] == "印章备案证明"
    assert docs[0]["url"] == f"/api/v1/public/licences/{uscc}/document.pdf"
    assert docs[1]["url"] == f"/api/v1/cases/{case_id}/documents/seal_approval.pdf"


def test_the_applicant_downloads_the_seal_filing_with_every_seal_number(issued):
    gw, case_id, uscc, hashes = issued
    resp = pdf(gw, case_id, "seal_approval")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == f'attachment; filename="seal_filing-{uscc}.pdf"'
    text = pypdfium2.PdfDocument(resp.content)[0].get_textpage().get_text_bounded()
    assert all(s["number"] in text for s in OUTPUTS["seal_approval"][1]["seals"])
    assert hashes["seal_approval"] in text and f"onevisit audit verify {case_id}" in text
    # business data only: no read of the application is made, so none is logged
    assert gw.http.get(f"/api/v1/cases/{case_id}/reads", headers=gw.login("applicant")).json() == []


def test_the_licence_entry_leads_to_the_e_licence(issued):
    gw, case_id, uscc, _hashes = issued
    resp = gw.http.get(
        f"/api/v1/cases/{case_id}/documents/business_licence.pdf", headers=gw.login("applicant"), follow_redirects=False
    )
    assert resp.status_code == 307 and resp.headers["location"] == f"/api/v1/public/licences/{uscc}/document.pdf"


def test_a_step_that_issued_nothing_or_is_not_a_step_is_404_naming_it_and_a_bad_name_422(issued):
    gw, case_id, _uscc, _hashes = issued
    not_yet = pdf(gw, case_id, "social_security")
    assert not_yet.status_code == 404 and "'social_security' has issued nothing" in not_yet.json()["detail"]
    nothing = pdf(gw, case_id, "name_check")
    assert nothing.status_code == 404 and "'name_check' issues no document" in nothing.json()["detail"]
    unknown = pdf(gw, case_id, "moon_landing")
    assert unknown.status_code == 404 and "'moon_landing': no such step" in unknown.json()["detail"]
    bad = pdf(gw, case_id, "Seal-Approval")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["path", "step"]


def test_nobody_else_gets_them_and_a_clerk_only_their_agencys(issued):
    gw, case_id, _uscc, _hashes = issued
    gw.add_user("another-applicant", "applicant")
    assert listing(gw, case_id, "another-applicant").status_code == 404
    assert pdf(gw, case_id, "seal_approval", "another-applicant").status_code == 404
    for user in ("auditor", "admin"):
        assert listing(gw, case_id, user).status_code == 403, user
        assert pdf(gw, case_id, "seal_approval", user).status_code == 403, user
    assert pdf(gw, case_id, "seal_approval", "clerk-public_security").status_code == 200
    other = pdf(gw, case_id, "seal_approval", "clerk-tax")
    assert other.status_code == 403 and "public_security's" in other.json()["detail"]
    assert [d["step"] for d in listing(gw, case_id, "clerk-tax").json()] == ["tax_registration"]
    assert pdf(gw, case_id, "seal_approval", "clerk-bank").status_code == 404  # holds no step of this case
    assert gw.http.get(f"/api/v1/cases/{case_id}/documents").status_code == 401


def test_a_withdrawal_undoes_them(issued):
    gw, case_id, _uscc, _hashes = issued
    record_step(gw, case_id, "seal_approval", "public_security", {"undone": "seal_approval"}, "compensated", 9)
    gone = pdf(gw, case_id, "seal_approval")
    assert gone.status_code == 410 and "undone on 2026-11-22" in gone.json()["detail"]
    assert [d["step"] for d in listing(gw, case_id).json()] == ["business_licence", "tax_registration"]


def test_after_an_erasure_the_certificates_stay_and_the_e_licence_goes(issued, fake_temporal):
    """The certificates hold business data only, as the trail does; the e-licence prints the application."""
    gw, case_id, _uscc, _hashes = issued
    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    status.state, status.revision = "completed", 1
    with gw.session() as session:
        record_case(session, status)
    erasure = {"reason": "PIPL art. 47"}
    erased = gw.http.post(f"/api/v1/cases/{case_id}/erasure", json=erasure, headers=gw.login("admin"))
    assert erased.status_code == 201, erased.text
    assert pdf(gw, case_id, "tax_registration").status_code == 200
    assert [d["step"] for d in listing(gw, case_id).json()] == ["seal_approval", "tax_registration"]


def test_the_cli_writes_every_document(issued, monkeypatch, tmp_path):
    gw, case_id, uscc, _hashes = issued
    import gateway.client
    from gateway.cli import app as cli

    monkeypatch.setattr(gateway.client.httpx, "Client", lambda **_kw: gw.http)  # the CLI talks to the app in process
    result = CliRunner().invoke(cli, ["documents", case_id, "-o", str(tmp_path / "docs"), "--url", "http://testserver"])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert names == [f"licence-{uscc}.pdf", f"seal_filing-{uscc}.pdf", f"tax_registration-{uscc}.pdf"]
    assert all(p.read_bytes().startswith(b"%PDF-") for p in (tmp_path / "docs").iterdir())
    refused = CliRunner().invoke(cli, ["documents", "br-no-such-case", "-o", str(tmp_path / "none")])
    assert refused.exit_code == 1 and "no case br-no-such-case" in refused.output
