"""The health card at the agencies, on real back-ends (their own SQLite) and a real gateway key:
one card per resident, codes a hospital may and may not accept, the PIN lock, revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from stdnum import luhn

from agencies.backend import Refused
from agencies.health import QR_UPDATE, QrClaim, dynamic_code, hash_pin
from agencies.simulated import SimulatedBackend
from tests.agencies.test_adapter import request as adapter_request
from workflows.authority import GatewaySigner, Keyring
from workflows.catalog import get_flow
from workflows.messages import StepInput

RESIDENT = {"name": "张伟", "id_number": "370102199001011231"}
PIN = "580316"


def request(flow: str, step: str, case_id: str, app: dict) -> StepInput:
    return adapter_request(step, case_id, app, flow=get_flow(flow))


@pytest.fixture
def world(tmp_path, monkeypatch):
    upstream: dict = {}
    monkeypatch.setattr("agencies.health.parent_output", lambda _request, key: upstream[key])
    signer = GatewaySigner(Ed25519PrivateKey.generate())
    commission = SimulatedBackend(
        "health_commission", tmp_path / "health_commission", gateway_keys=Keyring([signer.public_hex()])
    )
    return commission, signer, upstream


def issue(world, case_id: str, resident: dict = RESIDENT) -> dict:
    commission, _, upstream = world
    upstream.update(commission.perform(request("health_card", "health_archive", case_id, {"resident": resident})))
    app = {"resident": resident, "pin_hash": hash_pin(PIN), "share": ["identity", "allergies"]}
    return commission.perform(request("health_card", "card_issue", case_id, app))


def scan(world, case_id: str, code: str, pin: str | None = None) -> dict:
    app = {"code": code, "hospital": "hospital_qilu", "channel": "window", **({"pin": pin} if pin else {})}
    return world[0].perform(request("health_card_visit", "card_check", case_id, app))


def code(world, card: str, now: datetime | None = None, signer: GatewaySigner | None = None) -> str:
    claim = QrClaim(card_number=card)
    authority = (signer or world[1]).sign(card, QR_UPDATE, claim, now or datetime.now(UTC), timedelta(minutes=3))
    return dynamic_code(claim.model_copy(update={"authority": authority}))


def test_one_card_per_resident_a_second_application_gets_it_back(world):
    first = issue(world, "H-1")
    assert len(first["card_number"]) == 18 and luhn.is_valid(first["card_number"]) and not first["existing_card"]
    again = issue(world, "H-2")
    assert (again["card_number"], again["existing_card"]) == (first["card_number"], True)
    other = issue(world, "H-3", {"name": "王芳", "id_number": "370103199003022467"})
    assert other["card_number"] != first["card_number"]


def test_a_dynamic_code_is_taken_once_and_the_replay_refused(world):
    card = issue(world, "H-1")["card_number"]
    qr = code(world, card)
    assert scan(world, "V-1", qr) == {
        "card_number": card,
        "card_status": "valid",
        "factor": "dynamic_code",
        "shared": ["identity", "allergies"],
        "hospital": "hospital_qilu",
        "channel": "window",
    }
    assert scan(world, "V-1", qr)["card_number"] == card  # the same case asking again: its first answer
    with pytest.raises(Refused, match="already used") as err:
        scan(world, "V-2", qr)
    assert err.value.code == "QrReplayed"


@pytest.mark.parametrize("attack", ["other-card", "foreign-key", "expired", "garbled", "no-signature"])
def test_a_code_not_signed_by_a_trusted_gateway_for_this_card_now_is_refused(world, attack):
    card = issue(world, "H-1")["card_number"]
    other = issue(world, "H-2", {"name": "王芳", "id_number": "370103199003022467"})["card_number"]
    if attack == "other-card":  # a genuine signature for one card, presented for another
        qr = code(world, card).replace(card, other)
    elif attack == "foreign-key":
        qr = code(world, card, signer=GatewaySigner(Ed25519PrivateKey.generate()))
    elif attack == "expired":
        qr = code(world, card, now=datetime.now(UTC) - timedelta(minutes=4))
    elif attack == "garbled":
        qr = "EHD:" + "~%%%" * 10
    else:
        qr = dynamic_code(QrClaim(card_number=card))
    with pytest.raises(Refused) as err:
        scan(world, "V-1", qr)
    expected = {"expired": "QrExpired", "garbled": "QrMalformed"}.get(attack, "QrForged")
    assert err.value.code == expected


def test_the_static_code_needs_the_pin_and_five_wrong_ones_lock_the_card(world):
    card = issue(world, "H-1")["card_number"]
    with pytest.raises(Refused) as err:
        scan(world, "V-0", f"EHC:{card}")
    assert err.value.code == "PinRequired"
    for i in range(4):
        with pytest.raises(Refused) as err:
            scan(world, f"V-{i + 1}", f"EHC:{card}", pin="111112")
        assert err.value.code == "PinWrong"
    assert scan(world, "V-5", f"EHC:{card}", pin=PIN)["factor"] == "static_code_and_pin"  # resets the count
    for i in range(5):
        with pytest.raises(Refused):
            scan(world, f"V-{i + 6}", f"EHC:{card}", pin="111112")
    with pytest.raises(Refused) as err:
        scan(world, "V-11", f"EHC:{card}", pin=PIN)  # even the right PIN, while locked
    assert err.value.code == "PinLocked"


def test_only_the_holder_revokes_and_a_revoked_cards_codes_are_refused(world):
    commission, _, upstream = world
    card = issue(world, "H-1")["card_number"]
    qr = code(world, card)
    stranger = {"card_number": card, "resident": {"id_number": "370103199003022467"}, "reissue": True}
    with pytest.raises(Refused) as err:
        commission.perform(request("health_card_revocation", "revoke_card", "R-1", stranger))
    assert err.value.code == "NotCardHolder"
    holder = {**stranger, "resident": {"id_number": RESIDENT["id_number"]}}
    revoked = commission.perform(request("health_card_revocation", "revoke_card", "R-2", holder))
    assert (revoked["revoked_card"], revoked["card_status"]) == (card, "revoked")
    for attempt in (lambda: scan(world, "V-1", qr), lambda: scan(world, "V-2", f"EHC:{card}", pin=PIN)):
        with pytest.raises(Refused) as err:
            attempt()
        assert err.value.code == "CardRevoked"
    upstream["revoked_card"] = card
    new = commission.perform(request("health_card_revocation", "reissue_card", "R-2", holder))
    assert new["card_number"] != card and new["replaces"] == card
    assert scan(world, "V-3", code(world, new["card_number"]))["shared"] == ["identity", "allergies"]
    assert issue(world, "H-9")["card_number"] == new["card_number"]  # the resident's one valid card now


def test_a_hospital_records_its_read_and_refuses_an_unknown_channel(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "agencies.health.parent_output", lambda _r, key: {"card_number": "c", "shared": ["identity"]}[key]
    )
    qilu = SimulatedBackend("hospital_qilu", tmp_path)
    read = qilu.perform(request("health_card_visit", "read_qilu", "V-1", {"channel": "kiosk"}))
    assert (read["hospital"], read["card_number"], read["channel"], read["read"]) == (
        "hospital_qilu",
        "c",
        "kiosk",
        ["identity"],
    )
    with pytest.raises(Refused) as err:
        qilu.perform(request("health_card_visit", "read_qilu", "V-2", {"channel": "backdoor"}))
    assert err.value.code == "ChannelInvalid"
