"""Whole-ledger reconciliation (chain/audit/ledger.py): pure over two lists, then on the real node
with single and batched anchors."""

from __future__ import annotations

import secrets

import pytest

from chain.anchors import Anchor
from chain.audit.ledger import StoredRecord, reconcile, reconcile_ledger
from chain.client import ADMIN_GAS
from chain.handoff import agency_id, step_id
from chain.merkle import Tree, handoff_leaf
from tests.fixtures.onchain_trail import FLOW, OnChainTrail, stored_records


def h32() -> str:
    return "0x" + secrets.token_bytes(32).hex()


def anchor_for(record: StoredRecord, block: int = 7) -> Anchor:
    return Anchor(
        handoff=record.hash,
        agency="0x" + agency_id(record.agency).hex(),
        case_commitment=record.case_commitment,
        step="0x" + step_id(record.flow, record.step).hex(),
        account="0x" + "ab" * 20,
        tx_hash=h32(),
        block_number=block,
        block_hash=h32(),
        log_index=0,
        timestamp=1_800_000_000,
    )


def record(step: str = "tax_registration", agency: str = "tax", **kw) -> StoredRecord:
    r = StoredRecord(
        hash=h32(),
        case_id="BR-TEST-0001",
        case_commitment=h32(),
        flow=FLOW,
        step=step,
        agency=agency,
        outcome="completed",
    )
    r = r.model_copy(update={"anchor": anchor_for(r)})
    return r.model_copy(update=kw)


def checks(report) -> set[tuple[str, str | None]]:
    return {(f.check, f.handoff) for f in report.findings}


def test_matching_sides_agree():
    records = [record(), record("seal_approval", "public_security")]
    report = reconcile(records, [r.anchor for r in records])
    assert report.ok and (report.anchors_on_chain, report.records_in_store, report.matched) == (2, 2, 2)


def test_an_anchor_without_record_and_a_record_without_anchor_are_found():
    kept, lost, unanchored = record(), record(), record()
    report = reconcile([kept, unanchored], [kept.anchor, lost.anchor])
    assert checks(report) == {("complete", lost.hash), ("anchor", unanchored.hash)}
    assert (report.anchors_on_chain, report.records_in_store, report.matched, report.ok) == (2, 2, 1, False)
    assert "case BR-TEST-0001" in next(f.message for f in report.findings if f.check == "anchor")


@pytest.mark.parametrize("field", ["case_commitment", "step", "agency", "tx_hash"])
def test_an_anchor_that_disagrees_with_its_record_is_found(field):
    r = record()
    real = r.anchor.model_copy(
        update={
            field: {
                "step": "0x" + step_id(FLOW, "seal_approval").hex(),
                "agency": "0x" + agency_id("public_security").hex(),
            }.get(field, h32())
        }
    )
    report = reconcile([r], [real])
    assert checks(report) == {("anchor", r.hash)} and report.matched == 1


def test_a_record_without_a_stored_reference_is_found():
    r = record()
    assert checks(reconcile([r.model_copy(update={"anchor": None})], [r.anchor])) == {("anchor", r.hash)}


def test_the_real_ledger_reconciles_with_its_records_and_names_what_is_missing(embedded_ledger):
    fresh = embedded_ledger.redeploy()  # a ledger of its own: other tests' anchors stay out
    trail = OnChainTrail.start(fresh).complete()
    records = stored_records(trail)
    report = reconcile_ledger(records, fresh.ledger())
    assert report.ok and report.anchors_on_chain == report.records_in_store == report.matched == len(records)
    stray = record()
    report = reconcile_ledger(records[1:] + [stray], fresh.ledger())
    assert checks(report) == {("complete", records[0].hash), ("anchor", stray.hash)}


def as_batched(records: list, batch, tree: Tree) -> list:
    """The records as the store keeps them once ``batch`` (the event of ``tree``'s root) anchored them."""
    return [
        r.model_copy(
            update={
                "anchor": r.anchor.model_copy(
                    update={
                        "batch_root": batch.root,
                        "leaf_index": n,
                        "batch_size": len(records),
                        "tx_hash": batch.tx_hash,
                        "block_hash": batch.block_hash,
                        "proof": ["0x" + p.hex() for p in tree.proof(n)],
                    }
                )
            }
        )
        for n, r in enumerate(records)
    ]


def test_batched_anchors_reconcile_by_their_proofs(embedded_ledger):
    fresh = embedded_ledger.redeploy()
    records = [record("tax_registration", "tax") for _ in range(3)]
    tree = Tree([handoff_leaf(r.hash, step_id(r.flow, r.step), r.case_commitment) for r in records])
    sender = fresh.sender("tax")
    sender.send(fresh.ledger().handoff_ledger.functions.anchor_batch(tree.root, len(records)), ADMIN_GAS)
    batch = fresh.ledger().all_batches()[0]
    stored = as_batched(records, batch, tree)
    report = reconcile_ledger(stored, fresh.ledger())
    assert report.ok and (report.batches_on_chain, report.matched) == (1, 3), report.findings
    wrong = stored[2].model_copy(update={"anchor": stored[2].anchor.model_copy(update={"leaf_index": 0})})
    report = reconcile_ledger(stored[:1] + [wrong], fresh.ledger())
    assert checks(report) == {("anchor", wrong.hash), ("complete", None)}
