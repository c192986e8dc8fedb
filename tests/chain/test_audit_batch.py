"""The auditor on trails anchored in Merkle batches, on the embedded node: a batched trail
verifies offline and against the ledger; a bad proof, a leaf from another batch, a root never
anchored and a root anchored by another agency each give a named finding."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from chain.audit.case import verify_case
from chain.audit.evidence import AgencyClaim, ChainRef, EvidenceBundle, EvidenceItem
from chain.batcher import AnchorBatcher
from chain.client import Sender
from chain.handoff import case_commitment, new_salt, now_rfc3339, sign, step_id
from chain.merkle import Tree, handoff_leaf
from tests.fixtures.trail import honest_record
from workflows.catalog import get_flow

FILLERS = 4  # other handoffs anchored in each batch, so that proofs are not empty


def batcher_for(sender: Sender, journal) -> AnchorBatcher:
    """Batches that close when a handoff and its fillers are all in, never on a timer (its 300 s
    only guards against a hang), so that every batch holds them however slowly threads run."""
    return AnchorBatcher(sender, journal, max_batch=FILLERS + 1, max_wait_s=300)


@dataclass
class BatchedTrail:
    bundle: EvidenceBundle
    batchers: dict[str, AnchorBatcher]


def anchor_with_fillers(batcher: AnchorBatcher, flow: str, step: str, handoff: str, case: str):
    """Anchor ``handoff`` in one batch with a few handoffs of other cases (as under load)."""
    others = [(case_commitment("filler", new_salt()), case_commitment("other", new_salt())) for _ in range(FILLERS)]
    with ThreadPoolExecutor(FILLERS + 1) as pool:
        mine = pool.submit(batcher.anchor, handoff, flow, step, case)
        rest = [pool.submit(batcher.anchor, h, flow, step, c) for h, c in others]
        [f.result() for f in rest]
        return mine.result()


def build_batched_trail(embedded_ledger, tmp_path) -> BatchedTrail:
    flow = get_flow("business_registration")
    ledger = embedded_ledger.ledger()
    case_id = f"BR-BATCH-{secrets.token_hex(4)}"
    salt = new_salt()
    commitment = case_commitment(case_id, salt)
    steps = [s for s in flow.topological_order() if not flow.step(s).when]
    agencies = sorted({flow.step(s).agency for s in steps})
    batchers = {
        a: batcher_for(Sender(ledger, embedded_ledger.keys[a].account_key), tmp_path / f"{a}.db") for a in agencies
    }
    done, items = {}, []
    for n, sid in enumerate(steps):
        step = flow.step(sid)
        record = honest_record(flow, sid, commitment, done, n, now_rfc3339())
        signed = done[sid] = sign(record, embedded_ledger.keys[step.agency].signing_key)
        anchor = anchor_with_fillers(batchers[step.agency], flow.name, sid, signed.hash, commitment)
        items.append(EvidenceItem(handoff=signed, anchor=anchor))
    d = embedded_ledger.deployment
    bundle = EvidenceBundle(
        case_id=case_id,
        salt=salt,
        commitment=commitment,
        flow=flow.model_dump(mode="json"),
        chain=ChainRef(chain_id=d.chain_id, registry=d.registry, ledger=d.ledger, block=d.block),
        agencies={
            a: AgencyClaim(signer=embedded_ledger.keys[a].signer, account=embedded_ledger.keys[a].account)
            for a in agencies
        },
        handoffs=items,
        exported_at="2026-11-21T10:01:00+00:00",
    )
    return BatchedTrail(bundle, batchers)


@pytest.fixture(scope="module")
def batched(embedded_ledger, tmp_path_factory):
    trail = build_batched_trail(embedded_ledger, tmp_path_factory.mktemp("batched"))
    yield trail
    for b in trail.batchers.values():
        b.close()


def findings(report) -> list[tuple[str, str | None]]:
    """(check, step) of every finding, in the order the auditor reports them."""
    return [(f.check, f.step) for f in report.findings]


def unproven(step: str) -> list[tuple[str, str]]:
    """A batched handoff whose proof fails: the proof finding, and so nothing anchors it."""
    return [("proof", step), ("anchor", step)]


def with_anchor(bundle: EvidenceBundle, step: str, /, **update) -> EvidenceBundle:
    items = list(bundle.handoffs)
    i = next(n for n, it in enumerate(items) if it.handoff.record.step == step)
    items[i] = items[i].model_copy(update={"anchor": items[i].anchor.model_copy(update=update)})
    return bundle.model_copy(update={"handoffs": items})


def item(bundle: EvidenceBundle, step: str) -> EvidenceItem:
    return next(it for it in bundle.handoffs if it.handoff.record.step == step)


def test_a_batched_trail_verifies_offline_and_against_the_ledger(batched, embedded_ledger):
    bundle = batched.bundle
    assert all(i.anchor.batched and i.anchor.batch_size > 1 for i in bundle.handoffs)
    for ledger in (None, embedded_ledger.ledger()):
        report = verify_case(bundle, ledger)
        assert report.ok, report.findings
        assert report.handoffs == report.anchored == len(bundle.handoffs)


def test_a_single_anchor_still_serialises_as_before(batched):
    single = item(batched.bundle, "name_check").anchor.model_copy(
        update={"batch_root": None, "leaf_index": None, "batch_size": None, "proof": None}
    )
    assert "batch_root" not in single.model_dump() and "proof" not in single.model_dump_json()
    assert "proof" in item(batched.bundle, "name_check").anchor.model_dump()


def test_a_modified_proof_is_named(batched, embedded_ledger):
    proof = item(batched.bundle, "business_licence").anchor.proof
    flipped = "0x" + (bytes.fromhex(proof[0][2:-2]) + bytes([int(proof[0][-2:], 16) ^ 1])).hex()
    bundle = with_anchor(batched.bundle, "business_licence", proof=[flipped, *proof[1:]])
    for ledger in (None, embedded_ledger.ledger()):
        assert findings(verify_case(bundle, ledger)) == unproven("business_licence")


def test_a_leaf_claimed_in_another_batch_is_named(batched, embedded_ledger):
    other = item(batched.bundle, "name_check").anchor  # market regulation's earlier batch
    bundle = with_anchor(
        batched.bundle,
        "business_licence",
        batch_root=other.batch_root,
        batch_size=other.batch_size,
        block_hash=other.block_hash,
        tx_hash=other.tx_hash,
    )
    for ledger in (None, embedded_ledger.ledger()):
        assert findings(verify_case(bundle, ledger)) == unproven("business_licence")


def test_a_root_never_anchored_is_named(batched, embedded_ledger):
    it = item(batched.bundle, "tax_registration")
    rec = it.handoff.record
    leaf = handoff_leaf(it.handoff.hash, step_id(rec.flow, rec.step), rec.case)
    tree = Tree([leaf, secrets.token_bytes(96), secrets.token_bytes(96)])  # a self-consistent forged batch
    bundle = with_anchor(
        batched.bundle,
        "tax_registration",
        batch_root="0x" + tree.root.hex(),
        leaf_index=0,
        batch_size=3,
        proof=["0x" + p.hex() for p in tree.proof(0)],
    )
    assert verify_case(bundle).ok  # offline the bundle's claim is all there is ...
    report = verify_case(bundle, embedded_ledger.ledger())  # ... the ledger knows better
    assert findings(report) == [("anchor", "tax_registration"), ("anchor", "tax_registration")]
    assert "never anchored" in report.findings[0].message and "not anchored" in report.findings[1].message


def test_a_root_anchored_by_another_agency_is_named(batched, embedded_ledger, tmp_path):
    it = item(batched.bundle, "seal_approval")  # public security's step ...
    rec = it.handoff.record
    tax = batcher_for(Sender(embedded_ledger.ledger(), embedded_ledger.keys["tax"].account_key), tmp_path / "tax.db")
    try:  # ... put in a batch by tax's account (the contract does not look inside a batch)
        foreign = anchor_with_fillers(tax, rec.flow, rec.step, it.handoff.hash, rec.case)
    finally:
        tax.close()
    bundle = with_anchor(batched.bundle, "seal_approval", **foreign.model_dump(exclude={"handoff"}))
    report = verify_case(bundle, embedded_ledger.ledger())
    assert findings(report) == [("anchor", "seal_approval"), ("anchor", "seal_approval")]
    assert "not by public_security" in report.findings[0].message
    assert "not public_security's account" in report.findings[1].message
    # offline, the bundle's own claim of public security's account already disagrees
    offline = verify_case(bundle)
    assert findings(offline) == [("anchor", "seal_approval")]
    assert "not public_security's account" in offline.findings[0].message


def test_a_batch_anchor_without_its_proof_is_named(batched):
    bundle = with_anchor(batched.bundle, "social_security", proof=None)
    assert findings(verify_case(bundle)) == unproven("social_security")


def test_a_batched_step_the_agency_did_not_own_at_that_block_is_named(embedded_ledger, tmp_path):
    fresh = embedded_ledger.redeploy()  # its own registry, so that reassigning a step disturbs no one
    fresh.admin().assign_step("business_registration", "tax_registration", "public_security")
    trail = build_batched_trail(fresh, tmp_path)
    try:
        report = verify_case(trail.bundle, fresh.ledger())
    finally:
        for b in trail.batchers.values():
            b.close()
    assert findings(report) == [("anchor", "tax_registration")]
    assert "was not tax's at block" in report.findings[0].message


@pytest.mark.parametrize("root", ["0xzz", "0x1234", ""])
def test_a_malformed_batch_root_is_a_proof_finding_not_a_crash(batched, embedded_ledger, root):
    bundle = with_anchor(batched.bundle, "social_security", batch_root=root)
    for ledger in (None, embedded_ledger.ledger()):
        assert findings(verify_case(bundle, ledger)) == unproven("social_security")
