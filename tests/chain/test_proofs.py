"""chain.audit.proofs alone: the HandoffLedger slots it assumes, and answers refused at the step named."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rlp
from eth_hash.auto import keccak
from trie import HexaryTrie

from chain.audit.proofs import (
    AGENCIES_SLOT,
    ANCHORED_AT_SLOT,
    BATCH_ANCHORED_AT_SLOT,
    anchored_at_slot,
    verify_account_proof,
    verify_storage_proof,
    vyper_hashmap_slot,
)
from chain.errors import ChainValueError, VerificationError

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = bytes.fromhex("11" * 20)


def test_the_slots_are_those_of_the_compiled_storage_layout():
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "-f", "layout", "contracts/HandoffLedger.vy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    layout = json.loads(out.stdout)["storage_layout"]
    assert layout["_anchored_at"]["slot"] == ANCHORED_AT_SLOT
    assert layout["_batch_anchored_at"]["slot"] == BATCH_ANCHORED_AT_SLOT
    registry = subprocess.run(
        [sys.executable, "-m", "vyper", "-f", "layout", "contracts/AgencyRegistry.vy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    agencies = json.loads(registry.stdout)["storage_layout"]["_agencies"]
    assert (agencies["slot"], agencies["type"]) == (AGENCIES_SLOT, "HashMap[bytes32, Agency]")


def test_a_vyper_hashmap_puts_the_slot_before_the_key():
    key = bytes(range(32))
    assert vyper_hashmap_slot(5, key) == int.from_bytes(keccak((5).to_bytes(32, "big") + key), "big")
    assert anchored_at_slot("0x" + key.hex()) == anchored_at_slot(key) == vyper_hashmap_slot(0, key)
    with pytest.raises(ChainValueError):
        anchored_at_slot("0x1234")


@pytest.fixture
def answer_and_root():
    """A two-account state in memory, one with slot 7 = 42, and an eth_getProof-shaped answer."""
    storage = HexaryTrie({})
    storage[keccak((7).to_bytes(32, "big"))] = rlp.encode(42)
    state = HexaryTrie({})
    state[keccak(ADDRESS)] = rlp.encode([1, 10**18, storage.root_hash, keccak(b"code")])
    state[keccak(b"\x22" * 20)] = rlp.encode([0, 5, keccak(b"\x80"), keccak(b"")])

    def hexes(nodes):
        return ["0x" + rlp.encode(n).hex() for n in nodes]

    answer = {
        "address": "0x" + ADDRESS.hex(),
        "balance": hex(10**18),
        "nonce": "0x1",
        "codeHash": "0x" + keccak(b"code").hex(),
        "storageHash": "0x" + storage.root_hash.hex(),
        "accountProof": hexes(state.get_proof(keccak(ADDRESS))),
        "storageProof": [
            {"key": "0x7", "value": "0x2a", "proof": hexes(storage.get_proof(keccak((7).to_bytes(32, "big"))))}
        ],
    }
    return answer, state.root_hash


def test_a_good_answer_gives_the_value(answer_and_root):
    answer, root = answer_and_root
    assert verify_storage_proof(root, ADDRESS, 7, answer) == 42
    assert verify_storage_proof("0x" + root.hex(), "0x" + ADDRESS.hex(), 7, answer) == 42
    assert verify_account_proof(root, ADDRESS, answer).nonce == 1
    repeated = {**answer, "accountProof": answer["accountProof"] * 2}  # extra nodes are not evidence: harmless
    assert verify_storage_proof(root, ADDRESS, 7, repeated) == 42


@pytest.mark.parametrize(
    "change, check",
    [
        (lambda a, r: (a, r[:31], 7), "proof-format"),  # root_of_31_bytes
        (lambda a, r: ({**a, "accountProof": ["zz"]}, r, 7), "proof-format"),  # node_not_hex
        (lambda a, r: ({k: v for k, v in a.items() if k != "accountProof"}, r, 7), "proof-format"),
        (lambda a, r: (a, r, 8), "proof-format"),  # slot_not_asked
        (lambda a, r: ({**a, "accountProof": ["0xc3c2c1"]}, r, 7), "account-proof"),  # rlp_garbage_node
        (lambda a, r: ({**a, "accountProof": a["accountProof"] + ["0x00"]}, r, 7), "account-proof"),
        (lambda a, r: ({**a, "accountProof": []}, r, 7), "account-proof"),  # no_nodes
        (lambda a, r: ({**a, "nonce": "0x2"}, r, 7), "account-claim"),  # claimed_nonce_wrong
        (lambda a, r: ({**a, "storageProof": [{**a["storageProof"][0], "proof": []}]}, r, 7), "storage-proof"),
        (lambda a, r: ({**a, "storageProof": [{**a["storageProof"][0], "value": "0x0"}]}, r, 7), "storage-claim"),
    ],
    ids=[
        "root_of_31_bytes",
        "node_not_hex",
        "no_account_proof",
        "slot_not_asked",
        "node_not_a_trie_node",
        "extra_element_not_a_trie_node",
        "no_nodes",
        "claimed_nonce_wrong",
        "no_storage_nodes",
        "claimed_value_wrong",
    ],
)
def test_a_bad_answer_fails_at_the_step_named(answer_and_root, change, check):
    answer, root, slot = change(*answer_and_root)
    with pytest.raises(VerificationError) as err:
        verify_storage_proof(root, ADDRESS, slot, answer)
    assert err.value.check == check
