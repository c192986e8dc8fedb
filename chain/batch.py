"""One handoff inside a Merkle batch, written once for the batcher (``chain.batcher``), the
auditor (``chain.audit.batch``) and the reconciliation (``chain.audit.ledger``):

  leaf      ``handoff hash || step id || case commitment`` (``chain.merkle.handoff_leaf``)
  proof     the inclusion proof (hex, leaf to root) leads from that leaf to the batch's root
  anchor    the handoff's Anchor: the batch's BatchAnchored event (account, agency, tx, block,
            log) with the handoff's own step and case, its leaf index, the batch size and proof
"""

from __future__ import annotations

from collections.abc import Sequence

from chain.anchors import Anchor, BatchAnchor
from chain.handoff import step_id
from chain.hexid import from_hex, to_hex
from chain.merkle import handoff_leaf, parse_proof, verify_inclusion


def leaf(handoff_hash: str, flow: str, step: str, case_commitment: str) -> bytes:
    """The leaf a batch holds for this handoff of ``flow``/``step`` in the case."""
    return handoff_leaf(handoff_hash, step_id(flow, step), case_commitment)


def verify_proof(
    handoff_hash: str,
    flow: str,
    step: str,
    case_commitment: str,
    index: int,
    size: int,
    proof: Sequence[str],
    root: str,
) -> bytes:
    """Rebuild the handoff's leaf and check that ``proof`` leads from it, as leaf ``index`` of a
    tree of ``size``, to ``root``; returns the leaf. Raises VerificationError("proof") when it does
    not, ChainValueError when the hash, case or root is malformed."""
    rebuilt = leaf(handoff_hash, flow, step, case_commitment)
    verify_inclusion(rebuilt, index, size, parse_proof(proof), from_hex(root, "batch root"))
    return rebuilt


def anchor_in_batch(
    event: BatchAnchor, handoff_hash: str, leaf_bytes: bytes, index: int, size: int, proof: list[str]
) -> Anchor:
    """The Anchor of the handoff at ``index`` (with ``leaf_bytes``) of the anchored batch ``event``."""
    return Anchor(
        handoff=handoff_hash,
        agency=event.agency,
        case_commitment=to_hex(leaf_bytes[64:]),
        step=to_hex(leaf_bytes[32:64]),
        account=event.account,
        tx_hash=event.tx_hash,
        block_number=event.block_number,
        block_hash=event.block_hash,
        log_index=event.log_index,
        timestamp=event.timestamp,
        batch_root=event.root,
        leaf_index=index,
        batch_size=size,
        proof=proof,
    )


__all__ = ["anchor_in_batch", "leaf", "verify_proof"]
