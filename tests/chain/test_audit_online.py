"""The auditor against the real embedded node: each kind of tampering, made for real on the chain
where the contract allows it (or through registry changes where it does not), is found, and the
finding names its check and the handoff."""

from __future__ import annotations

import secrets

import pytest
from eth_account import Account

from chain.audit.case import verify_case
from chain.audit.evidence import EvidenceItem
from chain.handoff import sign
from tests.fixtures.onchain_trail import FLOW, OnChainTrail, required_steps


def found(trail: OnChainTrail, items: list[EvidenceItem] | None = None) -> set[tuple[str, str | None]]:
    report = verify_case(trail.bundle(items), trail.ledger)
    assert report.online
    return {(f.check, f.handoff) for f in report.findings}


def build(deployed, **deviations: dict) -> OnChainTrail:
    """A whole trail, with keyword arguments for `OnChainTrail.add` at the steps named."""
    trail = OnChainTrail.start(deployed)
    for step in required_steps(trail.flow):
        trail.add(step, **deviations.get(step, {}))
    return trail


def swapped(trail: OnChainTrail, step: str, **update) -> list[EvidenceItem]:
    return [i.model_copy(update=update) if i.handoff.record.step == step else i for i in trail.items]


@pytest.fixture
def fresh(embedded_ledger):
    """Fresh contracts on the same node, for tests that change the registry."""
    return embedded_ledger.redeploy()


def test_an_untouched_trail_verifies_online(embedded_ledger):
    assert found(build(embedded_ledger)) == set()


def test_a_changed_field_is_found_by_hash(embedded_ledger):
    trail = build(embedded_ledger)
    licence = trail.item("business_licence").handoff
    forged = licence.model_copy(update={"record": licence.record.model_copy(update={"outputs": {"uscc": "forged"}})})
    assert found(trail, swapped(trail, "business_licence", handoff=forged)) == {("hash", licence.hash)}


def test_a_deleted_handoff_leaves_an_anchor_without_its_record(embedded_ledger):
    trail = build(embedded_ledger)
    tax = trail.item("tax_registration").handoff.hash
    items = [i for i in trail.items if i.handoff.hash != tax]
    assert found(trail, items) == {("complete", tax)}


def test_an_inserted_handoff_was_never_anchored(embedded_ledger):
    trail = build(embedded_ledger)
    extra = trail.add("tax_registration", anchor=False, outputs={"again": True}).handoff.hash
    report = verify_case(trail.bundle(), trail.ledger)
    # a second completed tax registration, and it was never anchored
    assert [(f.check, f.handoff) for f in report.findings] == [("complete", extra), ("anchor", extra)]


def test_a_reordered_parent_link_is_found(embedded_ledger):
    trail = OnChainTrail.start(embedded_ledger).complete(until="business_licence")
    name_check = trail.item("name_check").handoff.hash
    trail.add("tax_registration", parents=[name_check])  # signed and anchored as it stands
    trail.add("seal_approval")
    trail.add("social_security")
    assert found(trail) == {("parents", trail.item("tax_registration").handoff.hash)}


def test_a_child_anchored_before_its_parent_is_found(embedded_ledger):
    trail = OnChainTrail.start(embedded_ledger).complete(until="name_check")
    licence = trail.add("business_licence", anchor=False)  # signed, anchored only after its children
    children = [trail.add(s) for s in ("seal_approval", "tax_registration", "social_security")]
    trail.items[trail.items.index(licence)] = licence.model_copy(update={"anchor": trail.anchor(licence.handoff)})
    assert found(trail) == {("order", i.handoff.hash) for i in children}


def test_a_handoff_signed_by_another_agencys_key_is_found(embedded_ledger):
    trail = build(embedded_ledger, seal_approval={"key": embedded_ledger.keys["tax"].signing_key})
    assert found(trail) == {("signer", trail.item("seal_approval").handoff.hash)}


def test_a_handoff_anchored_from_another_agencys_account_is_found(fresh):
    # the contract refuses tax's account for public security's step, so the registry is bent:
    # the step is reassigned to tax for one anchor, then given back
    admin = fresh.admin()
    trail = OnChainTrail.start(fresh).complete(until="business_licence")
    admin.assign_step(FLOW, "seal_approval", "tax")
    seal = trail.add("seal_approval", account_key=fresh.keys["tax"].account_key)
    admin.assign_step(FLOW, "seal_approval", "public_security")
    trail.add("tax_registration")
    trail.add("social_security")
    assert seal.anchor.account == fresh.keys["tax"].account
    assert found(trail) == {("anchor", seal.handoff.hash)}


def test_a_handoff_never_anchored_is_found(embedded_ledger):
    trail = build(embedded_ledger, social_security={"anchor": False})
    assert found(trail) == {("anchor", trail.item("social_security").handoff.hash)}


def test_an_anchor_reference_the_chain_does_not_have_is_found(embedded_ledger):
    trail = build(embedded_ledger, social_security={"anchor": False})
    social = trail.item("social_security").handoff.hash
    claimed = trail.item("tax_registration").anchor.model_copy(
        update={
            "handoff": social,
            "tx_hash": "0x" + secrets.token_bytes(32).hex(),
            "block_hash": "0x" + secrets.token_bytes(32).hex(),
        }
    )
    assert found(trail, swapped(trail, "social_security", anchor=claimed)) == {("anchor", social)}


def mine_until(deployed, block: int) -> None:
    """Seal blocks (a transfer each) until the head is ``block``."""
    admin = deployed.admin()
    while admin.w3.eth.block_number < block:
        admin.fund(admin.address, 1)


def test_a_rotated_key_signs_until_its_effective_block_and_the_new_one_from_its_scheduling(fresh):
    old_key, new_key = fresh.keys["market_regulation"].signing_key, secrets.token_bytes(32)
    before = OnChainTrail.start(fresh).complete(until="name_check")  # the old key, before the rotation
    head = fresh.ledger().w3.eth.block_number
    effective = fresh.admin().rotate_signer("market_regulation", Account.from_key(new_key).address, head + 6)
    for step in ("business_licence", "seal_approval", "tax_registration", "social_security"):
        before.add(step)  # the licence: the old key, anchored inside the window
    assert before.item("business_licence").anchor.block_number < effective
    assert found(before) == set()

    across = OnChainTrail.start(fresh)
    across.add("name_check", key=new_key)  # the new key inside the window
    mine_until(fresh, effective)
    licence = across.add("business_licence", key=old_key)  # the old key once the new one took over
    for step in ("seal_approval", "tax_registration", "social_security"):
        across.add(step)
    assert found(across) == {("signer", licence.handoff.hash)}
    # the same record re-signed by the new key: the same hash and anchor, now valid
    again = EvidenceItem(handoff=sign(licence.handoff.record, new_key), anchor=licence.anchor)
    assert found(across, [again if i is licence else i for i in across.items]) == set()


def test_a_record_of_another_case_is_found(embedded_ledger):
    trail = build(embedded_ledger)
    other = build(embedded_ledger)
    stray = other.item("tax_registration")
    items = [stray if i.handoff.record.step == "tax_registration" else i for i in trail.items]
    report = verify_case(trail.bundle(items), trail.ledger)
    ours, theirs = trail.item("tax_registration").handoff.hash, stray.handoff.hash
    # our anchor lacks its record; the stray is of another case, hangs off that case's handoffs
    # and has no anchor of this case
    assert [(f.check, f.handoff) for f in report.findings] == [
        ("complete", ours),
        ("commitment", theirs),
        ("parents", theirs),
        ("anchor", theirs),
    ]


def test_a_time_after_its_anchor_block_is_found_against_the_chains_block_time(embedded_ledger):
    trail = build(embedded_ledger, tax_registration={"time": "2099-01-01T00:00:00.000Z"})
    report = verify_case(trail.bundle(), trail.ledger)
    assert [(f.check, f.handoff) for f in report.findings] == [("time", trail.item("tax_registration").handoff.hash)]
    assert "the chain's block time" in report.findings[0].message


def test_a_step_decided_by_a_rule_it_does_not_have_is_found_online(embedded_ledger):
    trail = build(embedded_ledger, business_licence={"decided_by": "rule:anything"})
    assert found(trail) == {("rules", trail.item("business_licence").handoff.hash)}


def test_a_bundle_naming_another_chain_is_found(embedded_ledger):
    trail = build(embedded_ledger)
    bundle = trail.bundle()
    other = bundle.model_copy(update={"chain": bundle.chain.model_copy(update={"chain_id": bundle.chain.chain_id + 1})})
    report = verify_case(other, trail.ledger)
    assert [(f.check, f.handoff) for f in report.findings] == [("anchor", None)]
    assert "another chain" in report.findings[0].message
