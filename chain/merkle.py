"""Merkle trees over handoffs, as RFC 6962 (Certificate Transparency) builds them. Pure: no I/O.

    leaf hash  = H(0x00 || leaf bytes)
    node hash  = H(0x01 || left || right)
    MTH(D[n])  = H(0x00 || d0) for n = 1; else H(0x01 || MTH(D[0:k]) || MTH(D[k:n])) with k the
                 largest power of two smaller than n

with H = keccak-256 (what the EVM and the rest of ``chain`` use). The distinct prefixes keep a leaf
from passing for an inner node (second pre-image). Proofs run from the leaf up, and
``verify_inclusion`` follows transparency-dev/merkle's ``proof/verify.go``: it recomputes the root
and raises ``VerificationError("proof", ...)`` naming what is wrong; it never returns False.

The leaf OneVisit anchors for a handoff (``handoff_leaf``) is 96 bytes:
``handoff hash || step id || case commitment``, so an inclusion proof binds the step (whose
owner the auditor checks against the registry at the batch's block) and the case, not just the
record hash.
"""

from __future__ import annotations

from collections.abc import Sequence

from chain.errors import ChainValueError, VerificationError
from chain.hexid import HASH_SIZE, bytes32, from_hex

try:  # safe-pysha3 (a dependency): ~9x faster than eth_utils' default pycryptodome backend
    from sha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        return _keccak_256(data).digest()
except ImportError:  # pragma: no cover - same function, slower backend
    from eth_utils import keccak as _eth_keccak

    def keccak(data: bytes) -> bytes:
        return _eth_keccak(data)


LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


def hash_leaf(data: bytes) -> bytes:
    return keccak(LEAF_PREFIX + data)


def hash_children(left: bytes, right: bytes) -> bytes:
    return keccak(NODE_PREFIX + left + right)


def handoff_leaf(handoff_hash: str | bytes, step_id: bytes, case_commitment: str | bytes) -> bytes:
    """The leaf bytes for one handoff: its hash, the step id and the case commitment (32 each)."""
    parts = [
        bytes32(handoff_hash, "handoff hash"),
        bytes32(step_id, "step id"),
        bytes32(case_commitment, "case commitment"),
    ]
    return b"".join(parts)


class Tree:
    """All levels of the tree over ``leaves`` (leaf bytes, not hashes), built once, bottom-up.

    A right-edge node without a sibling moves up unchanged, which gives exactly RFC 6962's tree.
    """

    def __init__(self, leaves: Sequence[bytes]):
        if not leaves:
            raise ChainValueError("a Merkle tree needs at least one leaf")
        level = [hash_leaf(bytes(leaf)) for leaf in leaves]
        self.levels: list[list[bytes]] = [level]
        while len(level) > 1:
            nxt = [hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            self.levels.append(nxt)
            level = nxt

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0]

    def proof(self, index: int) -> list[bytes]:
        """The audit path of leaf ``index``: sibling hashes from the leaf up to the root."""
        if not 0 <= index < self.size:
            raise ChainValueError(f"leaf index {index} is outside a tree of {self.size}")
        path = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path


def root(leaves: Sequence[bytes]) -> bytes:
    return Tree(leaves).root


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    return Tree(leaves).proof(index)


def root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for ``leaf`` at ``index`` in a tree of ``size``; raises
    VerificationError("proof") if the proof cannot be for that position."""
    # (1) position
    if not (isinstance(index, int) and isinstance(size, int)) or size < 1 or not 0 <= index < size:
        raise VerificationError("proof", f"leaf index {index} is outside a tree of {size}")
    # (2) shape: RFC 6962 fixes the proof length for (index, size)
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        raise VerificationError(
            "proof", f"proof has {len(proof)} hashes, a leaf at {index} of {size} needs {inner + border}"
        )
    for n, h in enumerate(proof):
        if not isinstance(h, (bytes, bytearray)) or len(h) != HASH_SIZE:
            raise VerificationError("proof", f"proof hash {n} is not 32 bytes")
    # (3) recompute: inner part left or right by the index bits, then the right border
    node = hash_leaf(bytes(leaf))
    for n in range(inner):
        node = hash_children(node, proof[n]) if (index >> n) & 1 == 0 else hash_children(proof[n], node)
    for h in proof[inner:]:
        node = hash_children(h, node)
    return node


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (bytes, unhashed) is leaf ``index`` of the tree of ``size`` with ``root``."""
    if not isinstance(root, (bytes, bytearray)) or len(root) != HASH_SIZE:
        raise VerificationError("proof", "the root is not 32 bytes")
    if root_from_proof(leaf, index, size, proof) != root:
        raise VerificationError("proof", "the proof does not lead to the root: leaf, position or proof differ")


def parse_proof(proof: Sequence[str]) -> list[bytes]:
    """Hex strings (as anchors carry them) to bytes; malformed hex is a proof failure."""
    try:
        return [from_hex(h, "a proof hash") for h in proof]
    except (AttributeError, TypeError, ValueError) as exc:
        raise VerificationError("proof", f"proof does not parse: {exc}") from exc


__all__ = [
    "Tree",
    "handoff_leaf",
    "hash_children",
    "hash_leaf",
    "inclusion_proof",
    "keccak",
    "parse_proof",
    "root",
    "root_from_proof",
    "verify_inclusion",
]
