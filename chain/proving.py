"""What a gateway adds to an evidence bundle so that an auditor can check it offline without the
operator: for each block a handoff was anchored in, the header's RLP and EIP-1186 proofs (from
that block's state) of the ledger's anchor entries and of the registry's signer entries of the
agencies that anchored there. The agencies' checkpoints over those blocks are collected apart
(``chain.checkpoint``); ``chain.audit.proven`` checks all of it.

Reads a node that serves ``eth_getProof`` for the anchor blocks (the embedded node keeps every
state; Besu under Bonsai only the last 512 blocks by default: export soon after a case closes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from chain.anchors import Anchor, Deployment
from chain.audit.evidence import BlockProof
from chain.audit.proofs import SIGNER_MEMBERS, agency_slots, anchored_at_slot, batch_anchored_at_slot
from chain.errors import ChainError
from chain.header import header_rlp

Rpc = Callable[..., Any]  # (method, *params) -> result, as chain.client.JsonRpc


def _key(slot: int) -> str:
    return "0x" + slot.to_bytes(32, "big").hex()


def anchor_slot(anchor: Anchor) -> int:
    """The HandoffLedger slot whose value is the anchor's block: the batch root's for a batch."""
    return batch_anchored_at_slot(anchor.batch_root) if anchor.batched else anchored_at_slot(anchor.handoff)


def block_proofs(rpc: Rpc, deployment: Deployment, anchors: Iterable[Anchor]) -> list[BlockProof]:
    """One BlockProof (without checkpoints) per block of ``anchors``, in block order. ChainError
    when the node's block there is not the one the anchor names (a reorganised or other chain)."""
    blocks: dict[int, tuple[set[int], set[str], str]] = {}
    for a in anchors:
        slots, agencies, block_hash = blocks.setdefault(a.block_number, (set(), set(), a.block_hash.lower()))
        if a.block_hash.lower() != block_hash:
            raise ChainError(f"two anchors name block {a.block_number} with different hashes")
        slots.add(anchor_slot(a))
        agencies.add(a.agency.lower())
    proofs = []
    for number, (slots, agencies, block_hash) in sorted(blocks.items()):
        tag = hex(number)
        block = rpc("eth_getBlockByNumber", tag, False)
        if not isinstance(block, dict) or str(block.get("hash", "")).lower() != block_hash:
            raise ChainError(f"the node's block {number} is not {block_hash}, the block its anchors name")
        registry_keys = [_key(agency_slots(a)[m]) for a in sorted(agencies) for m in SIGNER_MEMBERS]
        proofs.append(
            BlockProof(
                header="0x" + header_rlp(block).hex(),
                ledger=rpc("eth_getProof", deployment.ledger, [_key(s) for s in sorted(slots)], tag),
                registry=rpc("eth_getProof", deployment.registry, registry_keys, tag),
            )
        )
    return proofs


__all__ = ["anchor_slot", "block_proofs"]
