"""The ledger client against the embedded node: deploy, register, anchor, read back."""

from __future__ import annotations

import pytest

from chain.errors import AnchorRefused
from chain.handoff import case_commitment, new_salt
from chain.ledger import Sender


def fresh_hash() -> str:
    return case_commitment("x", new_salt())


def test_an_agency_anchors_its_own_step_once(test_ledger):
    sender = Sender(test_ledger.ledger(), test_ledger.keys["tax"].account_key)
    h, case = fresh_hash(), fresh_hash()
    first = sender.anchor(h, "business_registration", "tax_registration", case)
    again = sender.anchor(h, "business_registration", "tax_registration", case)
    assert first == again and first.account == test_ledger.keys["tax"].account
    assert [a.handoff for a in test_ledger.ledger().anchors_for_case(case)] == [h]
    assert test_ledger.ledger().anchored_at(h) == first.block_number


def test_another_agencys_step_is_refused_with_the_contracts_reason(test_ledger):
    sender = Sender(test_ledger.ledger(), test_ledger.keys["tax"].account_key)
    with pytest.raises(AnchorRefused, match="step owned by another agency"):
        sender.anchor(fresh_hash(), "business_registration", "seal_approval", fresh_hash())


def test_an_unregistered_account_is_refused(test_ledger, outsider):
    sender = Sender(test_ledger.ledger(), outsider.key)
    with pytest.raises(AnchorRefused, match="unregistered account"):
        sender.anchor(fresh_hash(), "business_registration", "tax_registration", fresh_hash())


def test_many_anchors_in_flight_from_one_account_all_land(test_ledger):
    from concurrent.futures import ThreadPoolExecutor

    sender = Sender(test_ledger.ledger(), test_ledger.keys["human_resources"].account_key)
    case = fresh_hash()
    hashes = [fresh_hash() for _ in range(30)]
    with ThreadPoolExecutor(10) as pool:
        anchors = list(pool.map(lambda h: sender.anchor(h, "business_registration", "social_security", case), hashes))
    assert sorted(a.handoff for a in anchors) == sorted(hashes)
    assert len(test_ledger.ledger().anchors_for_case(case)) == 30


def test_registry_events_tell_each_agencys_account_and_signer(test_ledger):
    events = test_ledger.ledger().registry_events()
    registered = {e["name"]: e for e in events if e["event"] == "AgencyRegistered"}
    assert registered["tax"]["signer"] == test_ledger.keys["tax"].signer
    assert registered["tax"]["account"] == test_ledger.keys["tax"].account
    assert sum(e["event"] == "StepAssigned" for e in events) >= 5
