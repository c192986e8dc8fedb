"""An agency's cosigning of ledger blocks (``workflows.cosign``): it reads each block it is asked
about on its own ledger node and, only if every one has the hash it was given there, signs them
all in one checkpoint with its signing key (``chain.checkpoint``). It vouches for what its own
node shows, nothing else: a block its node does not have, or has with another hash, is refused.
One RPC per block; nothing on the anchoring path."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agencies.keys import AgencyKeys
from chain.checkpoint import Checkpoint, sign_checkpoint
from chain.client import LedgerClient
from workflows.cosign import COSIGN_BLOCKS, CosignInput


class Cosigner:
    def __init__(self, keys: AgencyKeys, ledger: LedgerClient):
        self.keys = keys
        self.ledger = ledger

    @activity.defn(name=COSIGN_BLOCKS)
    def cosign_blocks(self, request: CosignInput) -> Checkpoint:
        chain_id = self.ledger.deployment.chain_id
        if request.chain_id != chain_id:
            raise ApplicationError(
                f"asked to cosign chain {request.chain_id}; {self.keys.agency}'s node is chain {chain_id}",
                type="OtherChain",
                non_retryable=True,
            )
        for b in request.blocks:
            block = self.ledger.rpc("eth_getBlockByNumber", hex(b.number), False)
            seen = block.get("hash", "").lower() if isinstance(block, dict) else None
            if seen != b.hash.lower():
                raise ApplicationError(
                    f"{self.keys.agency}'s node has block {b.number} as {seen or 'nothing yet'}, not {b.hash}",
                    type="NotOurBlock",
                    non_retryable=seen is not None,  # a block not yet seen may come: retried once
                )
        return sign_checkpoint(chain_id, [(b.number, b.hash) for b in request.blocks], self.keys.signing_key)

    def activities(self) -> list:
        return [self.cosign_blocks]
