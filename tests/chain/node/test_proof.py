"""eth_getProof on the embedded node: what the ledger suite cannot ask anvil (the bound on storage
keys, errors, tags, history of a slot, web3.py's formatted answer)."""

from __future__ import annotations

import pytest
import requests

from chain.audit.proofs import verify_account_proof, verify_storage_proof
from chain.node.errors import INVALID_PARAMS, LIMIT_EXCEEDED, NOT_FOUND
from chain.node.rpc import MAX_PROOF_KEYS
from tests.chain.conftest import deploy_notes, transact

SLOT0 = "0x" + "00" * 32


def rpc(node, method, params):
    return requests.post(
        node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=60
    ).json()


def root_of(w3, block) -> bytes:
    return bytes(w3.eth.get_block(block)["stateRoot"])


def test_a_counters_history_is_proven_block_by_block(node, w3, accounts):
    alice = accounts[0]
    notes = deploy_notes(w3, alice)
    blocks = [transact(w3, alice, notes.functions.note(b"k" * 32, i)).blockNumber for i in (1, 2, 3)]
    for expected, block in zip((1, 2, 3), blocks, strict=True):
        answer = rpc(node, "eth_getProof", [notes.address, [SLOT0], hex(block)])["result"]
        assert answer["storageProof"][0]["value"] == hex(expected)
        assert verify_storage_proof(root_of(w3, block), notes.address, 0, answer) == expected
    before = blocks[0] - 1  # deployed, never noted
    answer = rpc(node, "eth_getProof", [notes.address, [SLOT0], hex(before)])["result"]
    assert verify_storage_proof(root_of(w3, before), notes.address, 0, answer) == 0
    # web3.py's formatted answer (HexBytes, ints) verifies as well: the auditor may use either
    formatted = w3.eth.get_proof(notes.address, [0], blocks[-1])
    assert verify_storage_proof(root_of(w3, blocks[-1]), notes.address, 0, formatted) == 3


def test_tags_and_listed_nodes(node, w3, accounts):
    alice, bob = accounts[:2]
    transact(w3, alice, deploy_notes(w3, alice).functions.note(b"k" * 32, 1))
    for tag, block in (
        ("earliest", 0),
        ("latest", w3.eth.block_number),
        ("0x1", 1),
        ({"blockHash": "0x" + bytes(w3.eth.get_block(1)["hash"]).hex()}, 1),
    ):
        answer = rpc(node, "eth_getProof", [bob.address, [], tag])["result"]
        proven = verify_account_proof(root_of(w3, block), bob.address, answer)
        assert proven.balance == w3.eth.get_balance(bob.address, block)
        # as geth lists them: the root, then only nodes referenced by hash (32 bytes or more)
        assert all(len(n) >= 2 + 64 for n in answer["accountProof"][1:])
    assert rpc(node, "eth_getProof", [bob.address, ["0x0"], "latest"])["result"]["storageProof"][0]["key"] == "0x0"


def test_storage_keys_are_bounded_per_call(node, accounts):
    address = accounts[0].address
    assert (
        len(rpc(node, "eth_getProof", [address, [SLOT0] * MAX_PROOF_KEYS, "latest"])["result"]["storageProof"])
        == MAX_PROOF_KEYS
    )
    error = rpc(node, "eth_getProof", [address, [SLOT0] * (MAX_PROOF_KEYS + 1), "latest"])["error"]
    assert error["code"] == LIMIT_EXCEEDED and "too many storage keys" in error["message"]


@pytest.mark.parametrize(
    "params, code",
    [
        (["0x" + "11" * 20, [SLOT0], "0x99"], NOT_FOUND),
        (["0x" + "11" * 20, SLOT0, "latest"], INVALID_PARAMS),
        (["0x" + "11" * 20, ["0x" + "00" * 33], "latest"], INVALID_PARAMS),
        (["0x" + "11" * 20, ["0x-1"], "latest"], INVALID_PARAMS),
        (["0x" + "11" * 20, ["0xzz"], "latest"], INVALID_PARAMS),
        (["0x" + "11" * 20, [7], "latest"], INVALID_PARAMS),
        (["not_an_address", [SLOT0], "latest"], INVALID_PARAMS),
    ],
    ids=[
        "unknown_block",
        "keys_not_a_list",
        "key_longer_than_32_bytes",
        "negative_key",
        "key_not_hex",
        "key_not_a_string",
        "bad_address",
    ],
)
def test_bad_requests_are_refused(node, params, code):
    assert rpc(node, "eth_getProof", params)["error"]["code"] == code
