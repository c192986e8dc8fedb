"""GET /api/v1/public/licences/{code}/document.pdf: the e-licence for the applicant it was issued to;
its QR code, decoded from the rendered page, opens the public check, which answers valid. Anyone
else, an unknown code or a revoked licence gets a clear refusal; `onevisit licence-document`
writes the same PDF."""

from __future__ import annotations

import secrets

import httpx
import pypdfium2
import pytest
import zxingcpp
from typer.testing import CliRunner

from agencies.identifiers import random_uscc
from chain.handoff import sign
from gateway.casework import record_handoff
from gateway.store import CaseKey
from tests.fixtures.stack import application
from tests.gateway.test_public_licence import licence_handoff


def issue(gw, case_id: str, uscc: str, company_name: str, outcome: str = "completed") -> str:
    """Record the business licence handoff of ``case_id`` (or, ``compensated``, its revocation)."""
    signed, anchor = licence_handoff(uscc, outcome)
    record = signed.record.model_copy(update={"outputs": {**signed.record.outputs, "company_name": company_name}})
    signed = sign(record, secrets.token_bytes(32))
    with gw.session() as session:
        record_handoff(session, case_id, signed, anchor.model_copy(update={"handoff": signed.hash}))
    return uscc


def document(gw, code: str, user: str | None = "applicant") -> httpx.Response:
    return gw.http.get(f"/api/v1/public/licences/{code}/document.pdf", headers=gw.login(user) if user else {})


def read_back(pdf: bytes) -> tuple[str, list[str]]:
    page = pypdfium2.PdfDocument(pdf)[0]
    codes = [b.text for b in zxingcpp.read_barcodes(page.render(scale=2).to_pil())]
    return page.get_textpage().get_text_bounded(), codes


@pytest.fixture
def licensed(in_process_gateway):
    """A case of the applicant's with a valid licence: (gateway, case id, application, code)."""
    app = application()
    case_id = in_process_gateway.open_case(app)
    return (
        in_process_gateway,
        case_id,
        app,
        issue(in_process_gateway, case_id, random_uscc("370102"), app["company"]["name"]),
    )


def test_the_applicant_downloads_it_and_its_qr_code_answers_valid(licensed):
    gw, case_id, app, uscc = licensed
    resp = document(gw, uscc)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    assert resp.headers["content-disposition"] == f'attachment; filename="licence-{uscc}.pdf"'
    text, codes = read_back(resp.content)
    lines = text.splitlines()
    assert uscc in lines and f"名\u3000\u3000称 {app['company']['name']}" in lines
    assert "法定代表人 李明" in lines and "济南市历下区市场监督管理局" in lines
    assert codes == [f"http://testserver/check?code={uscc}"]
    page = gw.http.get(codes[0].removeprefix("http://testserver"))  # what a phone opens: the check page
    assert page.status_code == 200 and "真实有效" in page.text and app["company"]["name"] in page.text
    check = gw.http.get(f"/api/v1/public/licences/{uscc}")  # the same answer, as JSON
    assert check.json() == {
        "code": uscc,
        "format_valid": True,
        "status": "valid",
        "company_name": app["company"]["name"],
        "issued_on": "2026-11-22",
    }
    reads = gw.http.get(f"/api/v1/cases/{case_id}/reads", headers=gw.login("applicant")).json()
    assert [(r["reader"], r["purpose"], r["fields"]) for r in reads] == [
        ("applicant", "e-licence document", ["company", "legal_representative.name", "shareholders"])
    ]


def test_a_revoked_licence_has_no_document_and_the_refusal_says_when(licensed):
    gw, case_id, app, uscc = licensed
    issue(gw, case_id, uscc, app["company"]["name"], outcome="compensated")
    resp = document(gw, uscc)
    assert resp.status_code == 410
    assert resp.json()["detail"].startswith(f"the business licence {uscc} was revoked on 2026-11-22")
    check = gw.http.get(f"/api/v1/public/licences/{uscc}").json()
    assert (check["status"], check["revoked_on"]) == ("revoked", "2026-11-22")


def test_an_unknown_code_is_404_and_a_malformed_one_422_naming_the_rule(in_process_gateway):
    gw = in_process_gateway
    unknown = document(gw, random_uscc("370103"))
    assert unknown.status_code == 404 and "was issued to your cases" in unknown.json()["detail"]
    malformed = document(gw, "91370102MA3C8G8X3F")
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["loc"] == ["path", "code"]
    assert "unified social credit code" in malformed.json()["detail"][0]["msg"]


def test_only_the_applicant_it_was_issued_to_downloads_it(licensed):
    gw, _case_id, _app, uscc = licensed
    gw.add_user("another-applicant", "applicant")
    assert document(gw, uscc, "another-applicant").status_code == 404
    for user in ("auditor", "admin", "clerk-market_regulation", "clerk-public_security"):
        assert document(gw, uscc, user).status_code == 403, user
    assert document(gw, uscc, None).status_code == 401


def test_erased_personal_data_makes_no_document(licensed):
    gw, case_id, _app, uscc = licensed
    with gw.session() as session:
        session.delete(session.get(CaseKey, case_id))
        session.commit()
    resp = document(gw, uscc)
    assert resp.status_code == 410 and "erased" in resp.json()["detail"]


@pytest.mark.parametrize(
    "name", ["济南\u202e司公限有技科息信智泉", "济南泉智\u200d信息科技有限公司", "济南泉智\x1b[2J信息科技有限公司"]
)
def test_a_name_with_bidi_or_control_characters_never_reaches_a_licence(in_process_gateway, name):
    """Names are refused at the edge (422), so no case, no licence, no document carries them."""
    resp = in_process_gateway.http.post(
        "/api/v1/cases", json=application(name), headers=in_process_gateway.login("applicant")
    )
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body", "company", "name"]


def test_the_cli_writes_the_pdf(licensed, monkeypatch, tmp_path):
    gw, _case_id, _app, uscc = licensed
    import gateway.client
    from gateway.cli import app as cli

    monkeypatch.setattr(gateway.client.httpx, "Client", lambda **_kw: gw.http)  # the CLI talks to the app in process
    out = tmp_path / "licence.pdf"
    result = CliRunner().invoke(cli, ["licence-document", uscc, "-o", str(out), "--url", "http://testserver"])
    assert result.exit_code == 0, result.output
    assert read_back(out.read_bytes())[1] == [f"http://testserver/check?code={uscc}"]
    refused = CliRunner().invoke(cli, ["licence-document", random_uscc("370104"), "-o", str(out)])
    assert refused.exit_code == 1 and "was issued to your cases" in refused.output
