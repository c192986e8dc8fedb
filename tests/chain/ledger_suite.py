"""The ledger client's test suite, written once and run against every backend (after web3.py's
``_utils/module_testing``): a backend's module subclasses ``LedgerSuite`` and provides the fixture
``lut``, a LedgerUnderTest whose registry this suite may not change (tests that change the
registry take ``lut.redeploy()``: fresh contracts on the same node)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from chain.audit import verify_case
from chain.errors import AnchorRefused
from chain.handoff import agency_id, case_commitment, new_salt, step_id
from chain.ledger import ADMIN_GAS, Sender
from tests.fixtures.onchain_trail import FLOW, OnChainTrail
from workflows.catalog import get_flow


def fresh_hash() -> str:
    return case_commitment("x", new_salt())


def step_hex(step: str) -> str:
    return "0x" + step_id(FLOW, step).hex()


class LedgerSuite:
    # deployment and registration ------------------------------------------------------------
    def test_the_deployment_is_on_this_chain_and_the_ledger_trusts_its_registry(self, lut):
        ledger = lut.ledger()
        assert ledger.w3.eth.chain_id == lut.deployment.chain_id
        assert len(ledger.w3.eth.get_code(lut.deployment.registry)) > 0
        assert ledger.handoff_ledger.functions.registry().call() == lut.deployment.registry
        assert 0 < lut.deployment.block <= ledger.w3.eth.block_number

    def test_each_agency_is_registered_with_its_account_and_signer(self, lut):
        admin = lut.admin()
        for name, keys in lut.keys.items():
            assert admin.agency_record(name) == (keys.account, keys.signer, True)

    def test_each_step_is_owned_by_the_agency_the_flow_names(self, lut):
        registry = lut.ledger().agency_registry.functions
        for step in get_flow(FLOW).steps:
            assert registry.owner_of_step(step_id(FLOW, step.id)).call() == agency_id(step.agency)

    def test_registering_is_admin_only_with_the_reason(self, lut):
        imposter = Sender(lut.ledger(), lut.keys["tax"].account_key)
        call = lut.ledger().agency_registry.functions.rotate_signer(agency_id("tax"), imposter.address)
        with pytest.raises(AnchorRefused, match="caller is not admin"):
            imposter.send(call, ADMIN_GAS)

    # anchoring ------------------------------------------------------------------------------
    def test_an_agency_anchors_its_own_step(self, lut):
        h, case = fresh_hash(), fresh_hash()
        anchor = lut.sender("tax").anchor(h, FLOW, "tax_registration", case)
        assert (anchor.handoff, anchor.case_commitment, anchor.step) == (h, case, step_hex("tax_registration"))
        assert (anchor.account, anchor.agency) == (lut.keys["tax"].account, "0x" + agency_id("tax").hex())
        assert lut.ledger().anchored_at(h) == anchor.block_number > lut.deployment.block

    def test_another_agencys_step_is_refused_with_the_reason(self, lut):
        with pytest.raises(AnchorRefused, match="step owned by another agency"):
            lut.sender("tax").anchor(fresh_hash(), FLOW, "seal_approval", fresh_hash())

    def test_an_unassigned_step_is_refused_with_the_reason(self, lut):
        with pytest.raises(AnchorRefused, match="step not assigned"):
            lut.sender("tax").anchor(fresh_hash(), FLOW, "no_such_step", fresh_hash())

    def test_an_unregistered_account_is_refused(self, lut, outsider):
        with pytest.raises(AnchorRefused, match="unregistered account"):
            Sender(lut.ledger(), outsider.key).anchor(fresh_hash(), FLOW, "tax_registration", fresh_hash())

    def test_a_duplicate_returns_the_existing_anchor_and_the_contract_refuses_a_second(self, lut):
        h, case = fresh_hash(), fresh_hash()
        first = lut.sender("tax").anchor(h, FLOW, "tax_registration", case)
        assert lut.sender("tax").anchor(h, FLOW, "tax_registration", case) == first  # a retry: no new tx
        raw = lut.ledger().handoff_ledger.functions.anchor(bytes.fromhex(h[2:]), step_id(FLOW, "tax_registration"),
                                                           bytes.fromhex(case[2:]))
        with pytest.raises(AnchorRefused, match="handoff already anchored"):
            lut.sender("tax").send(raw, 250_000)
        assert [a.handoff for a in lut.ledger().anchors_for_case(case)] == [h]

    def test_many_anchors_in_flight_from_one_account_all_land(self, lut):
        sender = lut.sender("human_resources")
        case = fresh_hash()
        hashes = [fresh_hash() for _ in range(30)]
        with ThreadPoolExecutor(10) as pool:
            anchors = list(pool.map(lambda h: sender.anchor(h, FLOW, "social_security", case), hashes))
        assert sorted(a.handoff for a in anchors) == sorted(hashes)
        assert sorted(a.handoff for a in lut.ledger().anchors_for_case(case)) == sorted(hashes)

    # reading anchors back -------------------------------------------------------------------
    def test_anchors_read_back_by_case_in_chain_order_and_by_handoff(self, lut):
        case = fresh_hash()
        made = [lut.sender("market_regulation").anchor(fresh_hash(), FLOW, "name_check", case),
                lut.sender("market_regulation").anchor(fresh_hash(), FLOW, "business_licence", case),
                lut.sender("tax").anchor(fresh_hash(), FLOW, "tax_registration", case)]
        ledger = lut.ledger()
        assert ledger.anchors_for_case(case) == made
        assert [ledger.anchor_of(a.handoff) for a in made] == made
        assert ledger.anchor_of(fresh_hash()) is None and ledger.anchors_for_case(fresh_hash()) == []
        block = ledger.w3.eth.get_block(made[-1].block_number)
        assert ("0x" + bytes(block["hash"]).hex(), block["timestamp"]) == (made[-1].block_hash, made[-1].timestamp)
        assert {a.handoff for a in made} <= {a.handoff for a in ledger.all_anchors()}

    # the registry's history -----------------------------------------------------------------
    def test_registry_events_tell_each_agencys_account_and_signer(self, lut):
        events = lut.ledger().registry_events()
        registered = {e["name"]: e for e in events if e["event"] == "AgencyRegistered"}
        for name, keys in lut.keys.items():
            assert (registered[name]["account"], registered[name]["signer"]) == (keys.account, keys.signer)
        assigned = {e["step"] for e in events if e["event"] == "StepAssigned"}
        assert step_hex("seal_approval") in assigned

    def test_registry_changes_are_events_in_chain_order(self, lut, outsider):
        fresh = lut.redeploy()
        admin = fresh.admin()
        admin.rotate_signer("tax", outsider.address)
        admin.rotate_account("public_security", outsider.address)
        admin.suspend_agency("human_resources")
        changes = [(e["event"], e.get("new_signer") or e.get("new_account") or e["agency"])
                   for e in fresh.ledger().registry_events()
                   if e["event"] in ("SignerRotated", "AccountRotated", "AgencySuspended")]
        assert changes == [("SignerRotated", outsider.address), ("AccountRotated", outsider.address),
                           ("AgencySuspended", "0x" + agency_id("human_resources").hex())]
        with pytest.raises(AnchorRefused, match="agency suspended"):
            fresh.sender("human_resources").anchor(fresh_hash(), FLOW, "social_security", fresh_hash())
        with pytest.raises(AnchorRefused, match="unregistered account"):  # its old account
            fresh.sender("public_security").anchor(fresh_hash(), FLOW, "seal_approval", fresh_hash())

    # the auditor over a real trail ----------------------------------------------------------
    def test_a_small_signed_anchored_trail_verifies_online(self, lut):
        trail = OnChainTrail.start(lut).complete()
        report = verify_case(trail.bundle(), lut.ledger())
        assert report.ok, report.findings
        assert report.online and report.handoffs == report.anchored == len(trail.items) >= 5
