"""EIP-1186 account and storage proofs (eth_getProof) from the state tries py-evm keeps.

py-evm commits its tries without deleting old roots, so the state of every block is still in
the key/value store: walk HexaryTrie(db, header.state_root) along keccak(address), then the
account's storage trie along keccak(pad32(slot)). Proof nodes are listed as geth and anvil list
them: the root node, then every node referenced by hash (a node whose encoding is under 32 bytes
is inlined in its parent and is not a separate element); an empty trie is proven by its one blank
node, 0x80 (anvil's answer; geth gives an empty list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import rlp
from eth.constants import BLANK_ROOT_HASH, EMPTY_SHA3
from eth.rlp.accounts import Account
from eth_hash.auto import keccak
from trie import HexaryTrie

from chain.node.index import hb

BLANK_NODE = rlp.encode(b"")


def _nodes(trie: HexaryTrie, key: bytes) -> list[str]:
    out = []
    for i, node in enumerate(trie.get_proof(key)):
        encoded = rlp.encode(node)
        if i == 0 or len(encoded) >= 32:
            out.append(hb(encoded))
    return out or [hb(BLANK_NODE)]


def storage_key_out(given: str, slot: int) -> str:
    """The key as the answer echoes it: 32-byte data if given so, else a quantity (geth)."""
    return given.lower() if len(given) == 66 else hex(slot)


def get_proof(
    db: Mapping[bytes, bytes], state_root: bytes, address: bytes, slots: Sequence[tuple[str, int]]
) -> dict[str, Any]:
    """The eth_getProof result for ``address`` and ``slots`` ((key as given, slot number))."""
    state = HexaryTrie(db, state_root)
    key = keccak(address)
    raw = state.get(key)
    account = rlp.decode(raw, sedes=Account) if raw else Account(0, 0, BLANK_ROOT_HASH, EMPTY_SHA3)
    storage = HexaryTrie(db, account.storage_root)
    storage_proof = []
    for given, slot in slots:
        skey = keccak(slot.to_bytes(32, "big"))
        value = storage.get(skey)
        storage_proof.append(
            {
                "key": storage_key_out(given, slot),
                "value": hex(rlp.decode(value, sedes=rlp.sedes.big_endian_int) if value else 0),
                "proof": _nodes(storage, skey),
            }
        )
    return {
        "address": hb(address),
        "balance": hex(account.balance),
        "codeHash": hb(account.code_hash),
        "nonce": hex(account.nonce),
        "storageHash": hb(account.storage_root),
        "accountProof": _nodes(state, key),
        "storageProof": storage_proof,
    }
