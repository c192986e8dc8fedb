"""An agency's cosigning of ledger blocks (agencies/cosign.py) as a Temporal activity
(ActivityEnvironment), on the real embedded ledger: it signs what its own node shows and refuses
a block its node has with another hash, or another chain's blocks."""

from __future__ import annotations

import secrets

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from agencies.cosign import Cosigner
from chain.checkpoint import BlockRef
from chain.client import JsonRpc
from workflows.cosign import CosignInput


@pytest.fixture(scope="module")
def cosigner(embedded_ledger) -> Cosigner:
    return Cosigner(embedded_ledger.keys["tax"], embedded_ledger.ledger())


def blocks(url: str, numbers: list[int]) -> list[BlockRef]:
    rpc = JsonRpc(url)
    return [BlockRef(number=n, hash=rpc("eth_getBlockByNumber", hex(n), False)["hash"]) for n in numbers]


def test_an_agency_cosigns_the_blocks_its_node_shows_in_one_signature(cosigner, embedded_ledger):
    asked = blocks(embedded_ledger.url, [1, 2, 3])
    chain_id = embedded_ledger.deployment.chain_id
    checkpoint = ActivityEnvironment().run(cosigner.cosign_blocks, CosignInput(chain_id=chain_id, blocks=asked))
    assert (checkpoint.chain_id, checkpoint.blocks) == (chain_id, asked)
    assert checkpoint.recovered() == checkpoint.signer == embedded_ledger.keys["tax"].signer


def test_a_block_its_node_has_with_another_hash_is_refused_for_good(cosigner, embedded_ledger):
    real = blocks(embedded_ledger.url, [2])[0]
    forged = real.model_copy(update={"hash": "0x" + secrets.token_hex(32)})
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(
            cosigner.cosign_blocks, CosignInput(chain_id=embedded_ledger.deployment.chain_id, blocks=[forged])
        )
    assert (refused.value.type, refused.value.non_retryable) == ("NotOurBlock", True)
    assert refused.value.message == f"tax's node has block 2 as {real.hash}, not {forged.hash}"


def test_another_chains_blocks_are_refused(cosigner, embedded_ledger):
    asked = blocks(embedded_ledger.url, [1])
    with pytest.raises(ApplicationError) as refused:
        ActivityEnvironment().run(cosigner.cosign_blocks, CosignInput(chain_id=1338, blocks=asked))
    assert (refused.value.type, refused.value.non_retryable) == ("OtherChain", True)
