"""A Merkle-Patricia proof walker written by hand (rlp + keccak, nothing else), to check
eth_getProof answers independently of py-trie, which both the node and chain.audit.proofs use."""

from __future__ import annotations

import rlp
from eth_hash.auto import keccak

BLANK_ROOT = keccak(b"\x80")


class MissingNode(Exception):
    """The proof lacks a node the path needs (or has a node whose hash does not match)."""


def _nibbles(data: bytes) -> list[int]:
    return [n for b in data for n in (b >> 4, b & 15)]


def mpt_get(root: bytes, key: bytes, proof: list[bytes]) -> bytes:
    """The value at ``key`` in the trie of ``root`` that ``proof`` shows; b"" for a proven absence."""
    by_hash = {keccak(node): node for node in proof}
    path = _nibbles(key)
    ref: bytes | list = root
    while True:
        if isinstance(ref, bytes):
            if ref in (b"", BLANK_ROOT):
                return b""
            if ref not in by_hash:
                raise MissingNode(ref.hex())
            node = rlp.decode(by_hash[ref])
        else:
            node = ref  # a node under 32 bytes, inlined in its parent
        if len(node) == 17:  # branch
            if not path:
                return node[16]
            ref, path = node[path[0]], path[1:]
            continue
        encoded_path, child = node  # extension or leaf, hex-prefix path
        flag = encoded_path[0] >> 4
        prefix = ([encoded_path[0] & 15] if flag & 1 else []) + _nibbles(encoded_path[1:])
        if path[: len(prefix)] != prefix:
            return b""  # the key leaves the trie here: absent
        path = path[len(prefix) :]
        if flag & 2:  # leaf
            return child if not path else b""
        ref = child
