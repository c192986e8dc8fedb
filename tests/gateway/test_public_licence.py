"""The public licence check, as a bank or a landlord uses it (no sign-in): any code in, a clear
answer out, from the signed trail in the store; revoked as soon as a withdrawal undoes the
licence; rate-limited per address."""

from __future__ import annotations

import secrets

import pytest

from agencies.identifiers import random_uscc
from chain.anchors import Anchor
from chain.handoff import Handoff, sign
from gateway.accounts import RateLimit, RateLimited
from gateway.casework import record_handoff


def licence_handoff(uscc: str, outcome: str = "completed", step: str = "business_licence"):
    record = Handoff(
        flow="business_registration",
        flow_version="sha256:" + "0" * 64,
        rules_version="sha256:" + "0" * 64,
        step=step,
        case="0x" + secrets.token_bytes(32).hex(),
        agency="market_regulation",
        outcome=outcome,
        outputs={"uscc": uscc, "company_name": "济南泉智信息科技有限公司", "licence_date": "2026-11-22"},
        decided_by="rule:test",
        time="2026-11-22T08:00:00.000Z",
    )
    signed = sign(record, secrets.token_bytes(32))
    anchor = Anchor(
        handoff=signed.hash,
        agency="0x" + "11" * 32,
        case_commitment=record.case,
        step="0x" + "22" * 32,
        account="0x" + "33" * 20,
        tx_hash="0x" + "44" * 32,
        block_number=7,
        block_hash="0x" + "55" * 32,
        log_index=0,
        timestamp=1795334400,
    )
    return signed, anchor


def check(gw, code: str) -> dict:
    resp = gw.http.get(f"/api/v1/public/licences/{code}")
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_issued_valid_then_revoked_by_the_withdrawals_compensation(in_process_gateway):
    gw = in_process_gateway
    case_id, uscc = gw.open_case(), random_uscc("370102")
    with gw.session() as session:
        record_handoff(session, case_id, *licence_handoff(uscc))
    assert check(gw, uscc) == {
        "code": uscc,
        "format_valid": True,
        "status": "valid",
        "company_name": "济南泉智信息科技有限公司",
        "issued_on": "2026-11-22",
    }
    with gw.session() as session:
        record_handoff(session, case_id, *licence_handoff(uscc, outcome="compensated"))
    assert check(gw, uscc)["status"] == "revoked"


@pytest.mark.parametrize("code", ["91370102MA3C8G8X3F", "nonsense", "9" * 200, "91370102MA3C8G8X3E\u200d"])
def test_a_malformed_code_is_format_invalid(in_process_gateway, code):
    answer = check(in_process_gateway, code)
    assert answer["format_valid"] is False and answer["status"] == "unknown" and len(answer["code"]) <= 64


def test_a_well_formed_code_not_issued_here_is_unknown_and_other_steps_outputs_do_not_count(in_process_gateway):
    gw = in_process_gateway
    case_id, uscc = gw.open_case(), random_uscc("370103")
    assert check(gw, uscc) == {"code": uscc, "format_valid": True, "status": "unknown"}
    with gw.session() as session:  # a tax handoff that merely mentions the code issues nothing
        record_handoff(session, case_id, *licence_handoff(uscc, step="tax_registration"))
    assert check(gw, uscc)["status"] == "unknown"


def test_checks_are_rate_limited_per_address():
    now = [0.0]
    limit = RateLimit(per_minute=3, clock=lambda: now[0])
    for _ in range(3):
        limit.check("10.0.0.1")
    with pytest.raises(RateLimited) as err:
        limit.check("10.0.0.1")
    assert err.value.retry_after == 60
    limit.check("10.0.0.2")
    now[0] = 61.0
    limit.check("10.0.0.1")


def test_the_route_answers_429_with_retry_after(in_process_gateway):
    in_process_gateway.http.app.state.public_limit = RateLimit(per_minute=2)
    codes = [in_process_gateway.http.get(f"/api/v1/public/licences/x{i}").status_code for i in range(3)]
    third = in_process_gateway.http.get("/api/v1/public/licences/x")
    assert codes[:2] == [200, 200] and third.status_code == 429 and int(third.headers["Retry-After"]) >= 1
