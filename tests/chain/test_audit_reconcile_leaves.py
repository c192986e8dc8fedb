"""Reconciling a Merkle batch counts the distinct leaves the store's records prove, not the records:
a store that lists one record twice, or records whose proofs lead elsewhere, cannot make up for a
handoff it dropped from the batch."""

from __future__ import annotations

from chain.anchors import BatchAnchor
from chain.audit.case import Finding
from chain.audit.ledger import LedgerReport, StoredRecord, reconcile
from chain.handoff import agency_id, step_id
from chain.merkle import Tree, handoff_leaf
from tests.chain.test_reconcile import as_batched, h32, record


def batch_of(records: list[StoredRecord]) -> tuple[BatchAnchor, list[StoredRecord]]:
    """A BatchAnchored event over the records (all tax's), and the records as the store keeps them."""
    tree = Tree([handoff_leaf(r.hash, step_id(r.flow, r.step), r.case_commitment) for r in records])
    batch = BatchAnchor(
        root="0x" + tree.root.hex(),
        agency="0x" + agency_id("tax").hex(),
        count=len(records),
        account="0x" + "ab" * 20,
        tx_hash=h32(),
        block_number=9,
        block_hash=h32(),
        log_index=0,
        timestamp=1_800_000_000,
    )
    stored = as_batched(records, batch, tree)
    return batch, stored


def missing_leaves(batch: BatchAnchor, proven: int) -> Finding:
    return Finding(
        check="complete",
        message=(
            f"batch {batch.root} (block 9) anchors {batch.count} handoffs; the store's records prove {proven} "
            "distinct leaves of it"
        ),
    )


def test_a_whole_batch_reconciles():
    batch, stored = batch_of([record() for _ in range(3)])
    assert reconcile(stored, [], [batch]) == LedgerReport(
        ok=True, anchors_on_chain=0, batches_on_chain=1, records_in_store=3, matched=3, findings=[]
    )


def test_a_record_listed_twice_does_not_hide_a_dropped_leaf():
    batch, (first, second, dropped) = batch_of([record() for _ in range(3)])
    assert reconcile([first, second, first], [], [batch]) == LedgerReport(
        ok=False,
        anchors_on_chain=0,
        batches_on_chain=1,
        records_in_store=3,
        matched=2,
        findings=[
            Finding(
                check="complete",
                message=f"case {first.case_id}: the store lists this record twice",
                handoff=first.hash,
                step=first.step,
            ),
            missing_leaves(batch, 2),
        ],
    )


def test_a_record_whose_proof_leads_elsewhere_proves_no_leaf():
    batch, (first, second, third) = batch_of([record() for _ in range(3)])
    stray = third.model_copy(update={"hash": h32()})  # the dropped handoff's place taken by another record
    assert reconcile([first, second, stray], [], [batch]) == LedgerReport(
        ok=False,
        anchors_on_chain=0,
        batches_on_chain=1,
        records_in_store=3,
        matched=3,
        findings=[
            Finding(
                check="anchor",
                message=(
                    f"case {stray.case_id}: the stored inclusion proof does not lead to batch {batch.root}: "
                    "proof: the proof does not lead to the root: leaf, position or proof differ"
                ),
                handoff=stray.hash,
                step=stray.step,
            ),
            missing_leaves(batch, 2),
        ],
    )
