"""Batch anchoring on the embedded node: one transaction per batch, a proof per handoff, and
exactly once across duplicate calls, single anchors and crashes between send and receipt."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from chain.batcher import AnchorBatcher, BatchJournal
from chain.client import Sender
from chain.errors import AnchorRefused, ChainValueError
from chain.handoff import case_commitment, new_salt, step_id
from chain.merkle import Tree, handoff_leaf, parse_proof, verify_inclusion

FLOW, STEP = "business_registration", "tax_registration"


def fresh() -> str:
    return case_commitment("x", new_salt())


def tax_sender(embedded_ledger) -> Sender:
    return Sender(embedded_ledger.ledger(), embedded_ledger.keys["tax"].account_key)


@pytest.fixture
def batcher(embedded_ledger, tmp_path):
    b = AnchorBatcher(tax_sender(embedded_ledger), tmp_path / "batches.db", max_batch=16, max_wait_s=0.05)
    yield b
    b.close()


def check_proof(anchor) -> None:
    leaf = handoff_leaf(anchor.handoff, bytes.fromhex(anchor.step[2:]), anchor.case_commitment)
    verify_inclusion(
        leaf, anchor.leaf_index, anchor.batch_size, parse_proof(anchor.proof), bytes.fromhex(anchor.batch_root[2:])
    )


def test_many_handoffs_share_few_transactions_and_each_has_a_proof(embedded_ledger, tmp_path):
    # batches close when full, never on a timer (its 300 s only guards against a hang): how many
    # handoffs share a transaction does not depend on how fast the threads hand them over
    case, hashes, sizes = fresh(), [fresh() for _ in range(48)], []
    batcher = AnchorBatcher(
        tax_sender(embedded_ledger), tmp_path / "full.db", max_batch=16, max_wait_s=300, on_batch=sizes.append
    )
    try:
        with ThreadPoolExecutor(48) as pool:
            anchors = list(pool.map(lambda h: batcher.anchor(h, FLOW, STEP, case), hashes))
    finally:
        batcher.close()
    assert [a.handoff for a in anchors] == hashes
    roots = {a.batch_root for a in anchors}
    assert 3 <= len(roots) < 48 and all(a.batch_size <= 16 for a in anchors)
    ledger = embedded_ledger.ledger()
    for a in anchors:
        check_proof(a)
        assert a.account == embedded_ledger.keys["tax"].account
        assert a.step == "0x" + step_id(FLOW, STEP).hex() and a.case_commitment == case
    for root in roots:
        event = ledger.batch_of(root)
        members = [a for a in anchors if a.batch_root == root]
        assert event.count == len(members) == members[0].batch_size
        assert (event.tx_hash, event.block_number, event.log_index) == (
            members[0].tx_hash,
            members[0].block_number,
            members[0].log_index,
        )
        assert ledger.batch_anchored_at(root) == event.block_number
    assert ledger.anchors_for_case(case) == []  # nothing anchored alone
    assert sorted(sizes) == sorted(ledger.batch_of(root).count for root in roots)  # told of each batch once


def test_a_handoff_given_twice_is_batched_once(embedded_ledger, batcher):
    h, case = fresh(), fresh()
    with ThreadPoolExecutor(4) as pool:
        first = list(pool.map(lambda _: batcher.anchor(h, FLOW, STEP, case), range(4)))
    again = batcher.anchor(h, FLOW, STEP, case)
    assert all(a == again for a in first) and again.batch_size == 1


def test_a_handoff_anchored_alone_is_not_batched_again(embedded_ledger, batcher):
    h, case = fresh(), fresh()
    single = tax_sender(embedded_ledger).anchor(h, FLOW, STEP, case)
    assert batcher.anchor(h, FLOW, STEP, case) == single
    assert batcher.journal.find(h) is None


def test_the_same_handoff_for_another_step_or_case_is_refused(batcher):
    h, case = fresh(), fresh()
    batcher.anchor(h, FLOW, STEP, case)
    with pytest.raises(ChainValueError, match="another step or case"):
        batcher.anchor(h, FLOW, STEP, fresh())


def test_a_crash_after_sending_is_recovered_from_the_ledger_not_sent_again(embedded_ledger, tmp_path):
    sender, path = tax_sender(embedded_ledger), tmp_path / "crashed.db"
    case, hashes = fresh(), [fresh() for _ in range(3)]
    entries = [(h, handoff_leaf(h, step_id(FLOW, STEP), case)) for h in hashes]
    root = "0x" + Tree([leaf for _, leaf in entries]).root.hex()
    journal = BatchJournal(path)
    journal.add(root, entries)  # what the batcher writes before sending ...
    ledger = sender.ledger
    sender.send(
        ledger.handoff_ledger.functions.anchor_batch(bytes.fromhex(root[2:]), 3), 250_000
    )  # ... sent; then a crash
    journal.close()
    nonce = ledger.w3.eth.get_transaction_count(sender.address)
    b = AnchorBatcher(Sender(ledger, embedded_ledger.keys["tax"].account_key), path)
    try:
        anchors = [b.anchor(h, FLOW, STEP, case) for h in hashes]
    finally:
        b.close()
    assert {a.batch_root for a in anchors} == {root} and [a.leaf_index for a in anchors] == [0, 1, 2]
    assert anchors[0].tx_hash == ledger.batch_of(root).tx_hash
    assert ledger.w3.eth.get_transaction_count(sender.address) == nonce  # nothing sent again
    assert BatchJournal(path).unanchored() == []


def test_a_crash_before_sending_is_sent_on_restart_and_a_resent_root_is_recognised(embedded_ledger, tmp_path):
    path, case, h = tmp_path / "before.db", fresh(), fresh()
    leaf = handoff_leaf(h, step_id(FLOW, STEP), case)
    root = "0x" + Tree([leaf]).root.hex()
    j = BatchJournal(path)
    j.add(root, [(h, leaf)])
    j.close()
    b = AnchorBatcher(tax_sender(embedded_ledger), path)  # re-drives the journaled batch at start
    try:
        anchor = b.anchor(h, FLOW, STEP, case)
        assert anchor.batch_root == root and anchor.batch_size == 1
        assert b._send(root, 1) == embedded_ledger.ledger().batch_of(root)  # "batch already anchored" = done
    finally:
        b.close()


def test_a_batch_the_contract_refuses_is_refused_to_every_waiter_and_kept(embedded_ledger, outsider, tmp_path):
    # the batch closes when its three handoffs are in (300 s only guards against a hang)
    b = AnchorBatcher(
        Sender(embedded_ledger.ledger(), outsider.key), tmp_path / "outsider.db", max_batch=3, max_wait_s=300
    )
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(b.anchor, fresh(), FLOW, STEP, fresh()) for _ in range(3)]
            for f in futures:
                with pytest.raises(AnchorRefused, match="unregistered account"):
                    f.result()
        assert len(b.journal.unanchored()) == 1  # a retry re-sends the very same root
    finally:
        b.close()


def test_the_agency_worker_in_batch_mode_anchors_in_batches_exactly_once(embedded_ledger, tmp_path):
    from prometheus_client import REGISTRY
    from temporalio.testing import ActivityEnvironment

    from agencies.worker import build_activities
    from chain.handoff import Handoff, sign
    from workflows.messages import AnchorInput

    def batches() -> float:
        return REGISTRY.get_sample_value("onevisit_anchor_batch_size_count", {"agency": "tax"}) or 0.0

    keys = embedded_ledger.keys["tax"]
    before = batches()
    activities = build_activities(keys, embedded_ledger.ledger(), tmp_path, batch=True)
    try:
        assert isinstance(activities.anchorer, AnchorBatcher)
        record = Handoff(
            flow=FLOW,
            flow_version="sha256:x",
            rules_version="sha256:y",
            step=STEP,
            case=fresh(),
            agency="tax",
            outcome="completed",
            decided_by="rule:test",
            time="2026-11-21T10:00:00.000Z",
        )
        request = AnchorInput(flow=FLOW, step=STEP, handoff=sign(record, keys.signing_key))
        first = ActivityEnvironment().run(activities.anchor_handoff, request)
        again = ActivityEnvironment().run(activities.anchor_handoff, request)  # a retried activity
        assert first == again and first.batched and first.handoff == request.handoff.hash
        check_proof(first)
        assert batches() == before + 1  # one batch of one, measured once: the retry is answered from the journal
    finally:
        activities.anchorer.close()
    single = build_activities(keys, embedded_ledger.ledger(), tmp_path / "single")
    assert isinstance(single.anchorer, Sender)  # the default stays one transaction per handoff
