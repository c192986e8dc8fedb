"""The health card at the gateway (in-process, fake Temporal): what an application keeps, who may
apply with which ID number, who may make a card's codes or check them, and what a hospital cannot
slip into a check."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from agencies.health import QR_UPDATE, pin_matches, read_dynamic_code
from gateway.store import Case
from workflows.authority import Keyring

RESIDENT = {"name": "张伟", "id_number": "370102199001011231", "phone": "13905310002"}
OTHER = {"name": "王芳", "id_number": "370103199003022467", "phone": "13905310004"}


@pytest.fixture
def gw(in_process_gateway):
    return in_process_gateway


def card_application(resident=RESIDENT, **extra) -> dict:
    return {"flow": "health_card", "resident": resident, "pin": "580316", **extra}


def apply(gw, user: str = "applicant", **kw):
    return gw.http.post("/api/v1/cases", json=card_application(**kw), headers=gw.login(user))


def issued(gw, case_id: str, card: str, flow_result: dict | None = None) -> None:
    """Record the case as the engine would once the health commission issued ``card``."""
    with gw.session() as session:
        case = session.get(Case, case_id)
        case.status, case.result = "completed", flow_result or {"card_number": card, "issued_on": "2026-12-04"}
        session.add(case)
        session.commit()


def test_an_application_keeps_the_pins_hash_never_the_pin(gw, fake_temporal):
    resp = apply(gw)
    assert resp.status_code == 201, resp.text
    sent = fake_temporal.started[resp.json()["case_id"]]
    assert sent.flow.name == "health_card" and "pin" not in sent.application
    assert pin_matches("580316", sent.application["pin_hash"]) and not pin_matches(
        "580317", sent.application["pin_hash"]
    )
    assert "580316" not in json.dumps(sent.application)
    stored = gw.http.get(f"/api/v1/cases/{resp.json()['case_id']}/application", headers=gw.login("applicant")).json()
    assert "pin" not in stored and stored["resident"] == RESIDENT


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"pin": "123456"}, ["body", "pin"]),
        ({"pin": "777777"}, ["body", "pin"]),
        ({"pin": "58031"}, ["body", "pin"]),
        ({"share": ["allergies"]}, ["body"]),
        ({"share": ["identity", "identity"]}, ["body"]),
        ({"share": ["identity", "diagnoses"]}, ["body", "share", 1]),
        ({"resident": {**RESIDENT, "id_number": "370102199001011232"}}, ["body", "resident", "id_number"]),
        ({"resident": {**RESIDENT, "name": "张\u200b伟"}}, ["body", "resident", "name"]),
        ({"allergies": ["x" * 61]}, ["body", "allergies", 0]),
        ({"flow": "health_cards"}, ["body"]),
    ],
)
def test_a_bad_application_is_a_422_naming_the_field_and_nothing_is_kept(gw, fake_temporal, change, loc):
    body = {**card_application(), **change}
    resp = gw.http.post("/api/v1/cases", json=body, headers=gw.login("applicant"))
    assert resp.status_code == 422 and resp.json()["detail"][0]["loc"] == loc, resp.text
    assert fake_temporal.started == {}
    with gw.session() as session:
        assert session.exec(select(Case)).all() == []


def test_one_account_per_resident_and_one_resident_per_account(gw):
    assert apply(gw).status_code == 201
    assert apply(gw).status_code == 201  # the same person again: the health commission returns their card
    squatter = apply(gw, user="resident")
    assert squatter.status_code == 422 and squatter.json()["detail"][0]["loc"] == ["body", "resident", "id_number"]
    assert "already has an account" in squatter.json()["detail"][0]["msg"]
    second_person = apply(gw, resident=OTHER)
    assert second_person.status_code == 422 and "another resident" in second_person.json()["detail"][0]["msg"]
    assert apply(gw, user="resident", resident=OTHER).status_code == 201


def test_a_dynamic_code_is_signed_for_the_holders_card_and_only_they_get_one(gw, tmp_path):
    case_id = apply(gw).json()["case_id"]
    issued(gw, case_id, "370100000000000018")
    made = gw.http.post("/api/v1/health-cards/370100000000000018/code", headers=gw.login("applicant"))
    assert made.status_code == 200 and made.json()["qr_svg"].startswith("data:image/svg+xml")
    claim = read_dynamic_code(made.json()["code"])
    Keyring.load(tmp_path / "gateway-keys.json").check(claim.card_number, QR_UPDATE, claim, datetime.now(UTC), set())
    assert claim.authority.expires == made.json()["expires_at"]
    expires = datetime.fromisoformat(made.json()["expires_at"])
    assert 60 < (expires - datetime.now(UTC)).total_seconds() <= 180  # minutes, not the updates' ten
    for user in ("resident", "clerk-hospital_qilu", "auditor"):
        assert gw.http.post("/api/v1/health-cards/370100000000000018/code", headers=gw.login(user)).status_code in (
            403,
            404,
        )
    cards = gw.http.get("/api/v1/health-cards", headers=gw.login("applicant")).json()
    assert [(c["card_number"], c["status"], c["visits"]) for c in cards] == [("370100000000000018", "valid", [])]
    assert gw.http.get("/api/v1/health-cards", headers=gw.login("resident")).json() == []


def test_a_revoked_card_gets_no_code_and_shows_revoked(gw):
    case_id = apply(gw).json()["case_id"]
    issued(gw, case_id, "370100000000000018")
    lost = gw.http.post(
        "/api/v1/health-cards/370100000000000018/revocation", json={"reason": "lost"}, headers=gw.login("applicant")
    )
    assert lost.status_code == 201 and lost.json()["flow"] == "health_card_revocation"
    issued(
        gw,
        lost.json()["case_id"],
        "",
        {
            "revoked_card": "370100000000000018",
            "revoked_on": "2026-12-04",
            "card_number": "370100000000000026",
            "issued_on": "2026-12-04",
            "replaces": "370100000000000018",
        },
    )
    applicant = gw.login("applicant")
    assert gw.http.post("/api/v1/health-cards/370100000000000018/code", headers=applicant).status_code == 409
    assert gw.http.post("/api/v1/health-cards/370100000000000026/code", headers=applicant).status_code == 200
    cards = {
        c["card_number"]: c["status"] for c in gw.http.get("/api/v1/health-cards", headers=gw.login("applicant")).json()
    }
    assert cards == {"370100000000000018": "revoked", "370100000000000026": "valid"}


def test_a_check_names_the_clerks_own_hospital_whatever_the_body_says(gw, fake_temporal, monkeypatch):
    monkeypatch.setattr("gateway.api.health_cards.CHECK_WAIT_S", 0.1)
    body = {"code": "EHC:370100000000000018", "pin": "580316", "channel": "kiosk"}
    resp = gw.http.post("/api/v1/health-cards/checks", json=body, headers=gw.login("clerk-hospital_provincial"))
    assert resp.status_code == 202 and resp.json()["status"] == "pending"
    sent = fake_temporal.started[resp.json()["case_id"]]
    assert sent.flow.name == "health_card_visit"
    assert sent.application == {**body, "hospital": "hospital_provincial"}
    with gw.session() as session:  # the store keeps no PIN typed at a visit: it went to the card's issuer only
        kept = gw.http.app.state.vault.open(session, session.get(Case, resp.json()["case_id"]))
    assert kept == {"code": body["code"], "channel": "kiosk", "hospital": "hospital_provincial"}
    injected = gw.http.post(
        "/api/v1/health-cards/checks",
        json={**body, "hospital": "hospital_qilu"},
        headers=gw.login("clerk-hospital_provincial"),
    )
    assert injected.status_code == 422 and injected.json()["detail"][0]["loc"] == ["body", "hospital"]
    for clerk in ("clerk-market_regulation", "clerk-health_commission"):
        assert gw.http.post("/api/v1/health-cards/checks", json=body, headers=gw.login(clerk)).status_code == 403
