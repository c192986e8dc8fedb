"""Free text as salted commitments, and erasure, in-process (a fake Temporal client): what an
adversary holding the store's files finds of a person after ``POST /api/v1/cases/{id}/erasure``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.handoff import text_commitment
from gateway.casework import record_case
from tests.fixtures.stack import application
from workflows.engine import CaseWorkflow
from workflows.messages import DECIDE_UPDATE, WITHDRAW_UPDATE, reason_token

REASON = "经营场所证明上的房东签名与产权人张卫东不符"  # a clerk's free text, naming a third person
WITHDRAWAL = "我改在章丘区注册了，联系电话13905310001"  # an applicant's, with a phone number


def store_bytes(gw) -> bytes:
    """Every file of the store as an adversary copies them (the database and its write-ahead log)."""
    db = Path(gw.store.url.database)
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def recorded(gw, fake_temporal, case_id: str, state: str, **step_updates) -> None:
    """Record the case's status as the engine would (``step_updates``: step -> field values)."""
    from gateway.store import Case

    status = CaseWorkflow(fake_temporal.started[case_id]).status()
    with gw.session() as session:
        status.state, status.revision = state, session.get(Case, case_id).revision + 1
    for st in status.steps:
        st.state = "completed" if state == "completed" else st.state
        for field, value in step_updates.get(st.step, {}).items():
            setattr(st, field, value)
    with gw.session() as session:
        record_case(session, status)


@pytest.fixture
def awaiting(in_process_gateway, fake_temporal) -> str:
    case_id = in_process_gateway.open_case(application())
    recorded(
        in_process_gateway,
        fake_temporal,
        case_id,
        "running",
        business_licence={"state": "awaiting_decision", "since": "2026-12-01T10:00:00+00:00",
                          "deadline": "2026-12-01T11:00:00+00:00"},
    )  # fmt: skip
    return case_id


def test_a_clerks_reason_reaches_the_engine_only_as_a_commitment_and_the_store_only_sealed(
    in_process_gateway, fake_temporal, awaiting
):
    gw = in_process_gateway
    resp = gw.http.post(
        f"/api/v1/cases/{awaiting}/decision",
        json={"decision": "reject", "reason": REASON},
        headers=gw.login("clerk-market_regulation"),
    )
    assert resp.status_code == 200, resp.text
    (_, update, decision) = fake_temporal.updates[-1]
    assert update == DECIDE_UPDATE and decision.reason is None
    notes = gw.http.get(f"/api/v1/cases/{awaiting}/notes", headers=gw.login("auditor")).json()
    assert [(n["kind"], n["text"], n["matches"], n["in_trail"]) for n in notes] == [("rejection", REASON, True, False)]
    assert decision.reason_commitment == notes[0]["commitment"] == text_commitment(REASON, notes[0]["salt"])
    assert REASON.encode() not in store_bytes(gw)
    # the engine's status names the reason by its token; the applicant and the clerk read the text
    token = reason_token(decision.reason_commitment)
    recorded(gw, fake_temporal, awaiting, "returned", business_licence={"state": "rejected", "reason": token})
    with gw.session() as session:
        from gateway.store import Case

        case = session.get(Case, awaiting)
        case.reason = f"business_licence: {token}"
        session.add(case)
        session.commit()
    shown = gw.http.get(f"/api/v1/cases/{awaiting}", headers=gw.login("applicant")).json()
    assert shown["reason"] == f"business_licence: {REASON}"
    assert [s["reason"] for s in shown["steps"] if s["step"] == "business_licence"] == [REASON]


def test_an_approvals_note_goes_as_a_commitment_too(in_process_gateway, fake_temporal, awaiting):
    gw = in_process_gateway
    resp = gw.http.post(
        f"/api/v1/cases/{awaiting}/decision",
        json={"decision": "approve", "reason": "已电话核实张卫东的授权"},
        headers=gw.login("clerk-market_regulation"),
    )
    assert resp.status_code == 200, resp.text
    decision = fake_temporal.updates[-1][2]
    assert decision.approve and decision.reason is None and decision.reason_commitment
    notes = gw.http.get(f"/api/v1/cases/{awaiting}/notes", headers=gw.login("auditor")).json()
    assert [(n["kind"], n["matches"]) for n in notes] == [("approval", True)]


def test_a_withdrawal_reason_goes_as_a_commitment(in_process_gateway, fake_temporal, awaiting):
    gw = in_process_gateway
    withdrawal = {"reason": WITHDRAWAL}
    resp = gw.http.post(f"/api/v1/cases/{awaiting}/withdrawal", json=withdrawal, headers=gw.login("applicant"))
    assert resp.status_code == 200, resp.text
    (_, update, withdrawal) = fake_temporal.updates[-1]
    assert update == WITHDRAW_UPDATE and withdrawal.reason is None and withdrawal.reason_commitment
    assert WITHDRAWAL.encode() not in store_bytes(gw)


@pytest.fixture
def ended(in_process_gateway, fake_temporal, awaiting) -> str:
    """The case rejected by a clerk with a reason, then ended (completed, as the engine records it)."""
    gw = in_process_gateway
    gw.http.post(
        f"/api/v1/cases/{awaiting}/decision",
        json={"decision": "reject", "reason": REASON},
        headers=gw.login("clerk-market_regulation"),
    ).raise_for_status()
    token = reason_token(fake_temporal.updates[-1][2].reason_commitment)
    recorded(gw, fake_temporal, awaiting, "completed", business_licence={"reason": token})
    return awaiting


def erase(gw, case_id: str, user: str = "admin", reason: str = "申请人依《个人信息保护法》第四十七条请求删除"):
    return gw.http.post(f"/api/v1/cases/{case_id}/erasure", json={"reason": reason}, headers=gw.login(user))


def test_after_an_erasure_the_store_yields_no_name_id_number_or_reason(in_process_gateway, fake_temporal, ended):
    gw = in_process_gateway
    person = fake_temporal.started[ended].application["legal_representative"]
    company = fake_temporal.started[ended].application["company"]["name"]
    purpose = f"核对{person['name']}的身份证件"  # a clerk's free text, naming the person
    read = gw.http.get(
        f"/api/v1/cases/{ended}/application",
        params={"purpose": purpose},
        headers=gw.login("clerk-market_regulation"),
    )
    assert read.status_code == 200, read.text
    resp = erase(gw, ended)
    assert resp.status_code == 201, resp.text
    done = resp.json()
    assert done["case_id"] == ended and done["erased_by"] == "admin"
    # the anchored record: a case of the big data bureau's erasure flow, naming commitments only
    record = fake_temporal.started[done["record_case"]]
    assert record.flow.name == "case_erasure"
    with gw.session() as session:
        from gateway.store import Case

        assert record.application == {
            "erased_case": session.get(Case, ended).commitment,
            "reason_commitment": done["reason_commitment"],
        }
    assert fake_temporal.deleted == [ended]  # its Temporal history, under the operator's key, deleted
    raw = store_bytes(gw)
    for secret in (person["name"], person["id_number"], REASON, company, purpose):
        assert secret.encode() not in raw, secret
    applicant = gw.login("applicant")
    assert gw.http.get(f"/api/v1/cases/{ended}/application", headers=applicant).status_code == 410
    view = gw.http.get(f"/api/v1/cases/{ended}", headers=applicant).json()
    assert view["erased"]["record_case"] == done["record_case"]
    assert REASON not in str(view) and company not in str(view)
    reads = gw.http.get(f"/api/v1/cases/{ended}/reads", headers=applicant).json()
    assert [(r["reader"], r["purpose"]) for r in reads] == [("clerk-market_regulation", "[已删除 erased]")]
    notes = gw.http.get(f"/api/v1/cases/{ended}/notes", headers=applicant).json()
    assert notes == []  # sealed under the key erased, and deleted with it
    record_notes = gw.http.get(f"/api/v1/cases/{done['record_case']}/notes", headers=gw.login("auditor")).json()
    assert [(n["kind"], n["matches"]) for n in record_notes] == [("erasure", True)]


def test_a_status_the_engine_records_after_the_erasure_puts_nothing_back(in_process_gateway, fake_temporal, ended):
    gw = in_process_gateway
    assert erase(gw, ended).status_code == 201
    company = fake_temporal.started[ended].application["company"]["name"]
    recorded(gw, fake_temporal, ended, "completed", business_licence={"reason": "迟到的记录"})
    view = json.dumps(gw.http.get(f"/api/v1/cases/{ended}", headers=gw.login("applicant")).json(), ensure_ascii=False)
    assert '"erased": {' in view and company not in view and "迟到的记录" not in view


def test_an_erasure_asked_again_answers_the_first(in_process_gateway, ended):
    first = erase(in_process_gateway, ended).json()
    again = erase(in_process_gateway, ended, reason="once more")
    assert (again.status_code, again.json()) == (200, first)


def test_the_record_of_an_erasure_is_not_erased(in_process_gateway, ended):
    record = erase(in_process_gateway, ended).json()["record_case"]
    resp = erase(in_process_gateway, record)
    assert resp.status_code == 409 and "records an erasure" in resp.json()["detail"]


def test_a_case_still_running_is_not_erased(in_process_gateway, awaiting):
    resp = erase(in_process_gateway, awaiting)
    assert resp.status_code == 409 and "withdraw it first" in resp.json()["detail"]


def test_an_unknown_case_is_404(in_process_gateway):
    assert erase(in_process_gateway, "BR-20260101-00000000").status_code == 404


@pytest.mark.parametrize("user", ["applicant", "clerk-market_regulation", "auditor"])
def test_only_an_admin_erases(in_process_gateway, ended, user):
    assert erase(in_process_gateway, ended, user=user).status_code == 403


def test_an_erasure_needs_a_reason(in_process_gateway, ended):
    resp = erase(in_process_gateway, ended, reason="")
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == ["body", "reason"]
