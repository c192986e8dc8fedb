"""Write the inclusion-proof tamper cases in this folder, one JSON file per kind of tampering.

    .venv/bin/python tests/chain/testdata/inclusion/generate.py

Every file holds ``leaf`` (hex, unhashed leaf bytes), ``index``, ``size``, ``proof`` (hex list),
``root`` and ``want``: null for a proof that must verify, else a phrase the VerificationError
("proof") must contain. The tree is 7 handoff leaves; the proven leaf is index 5, whose proof has
two inner hashes and one right-border hash (after transparency-dev/merkle's testdata/inclusion).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from chain.merkle import Tree, handoff_leaf, keccak  # noqa: E402

ROOT_MISMATCH = "does not lead to the root"
BAD_LENGTH = "hashes, a leaf at"


def leaves(n: int) -> list[bytes]:
    return [handoff_leaf(keccak(b"handoff %d" % i), keccak(b"flow/step"), keccak(b"case")) for i in range(n)]


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(b)


def case(leaf: bytes, index: int, size: int, proof: list, root: bytes, want: str | None, about: str) -> dict:
    hexed = [p if isinstance(p, str) else "0x" + p.hex() for p in proof]
    return {
        "description": about,
        "leaf": "0x" + leaf.hex(),
        "index": index,
        "size": size,
        "proof": hexed,
        "root": "0x" + root.hex(),
        "want": want,
    }


def cases() -> dict[str, dict]:
    ls = leaves(7)
    tree = Tree(ls)
    i, n, root, proof = 5, 7, tree.root, tree.proof(5)
    leaf = ls[i]
    other = Tree(leaves(8))
    node_as_leaf = tree.levels[0][4] + tree.levels[0][5]  # an inner node's children, passed off as a leaf
    return {
        "valid.json": case(leaf, i, n, proof, root, None, "an untouched proof"),
        "modified-proof[0]-bit-@3.json": case(
            leaf, i, n, [flip(proof[0], 3), *proof[1:]], root, ROOT_MISMATCH, "bit 3 of the first proof hash flipped"
        ),
        "modified-proof[2]-bit-@255.json": case(
            leaf,
            i,
            n,
            [*proof[:2], flip(proof[2], 255)],
            root,
            ROOT_MISMATCH,
            "the last bit of the border hash flipped",
        ),
        "modified-leaf-bit-@0.json": case(
            flip(leaf, 0), i, n, proof, root, ROOT_MISMATCH, "the leaf's first bit flipped"
        ),
        "wrong-leaf.json": case(ls[4], i, n, proof, root, ROOT_MISMATCH, "another leaf of the same tree"),
        "wrong-index.json": case(leaf, 4, n, proof, root, ROOT_MISMATCH, "the right leaf at the wrong index"),
        # (a size of the same proof shape, e.g. 8, is not caught by the proof: RFC 6962 roots do not
        # commit to the size; the auditor takes the size from the batch's on-chain count)
        "wrong-size.json": case(leaf, i, 6, proof, root, BAD_LENGTH, "the proof checked as if the tree had 6 leaves"),
        "wrong-root.json": case(leaf, i, n, proof, other.root, ROOT_MISMATCH, "the root of another batch"),
        "swapped-proof.json": case(
            leaf, i, n, [proof[1], proof[0], proof[2]], root, ROOT_MISMATCH, "the first two proof hashes swapped"
        ),
        "node-as-leaf.json": case(
            node_as_leaf,
            2,
            4,
            [tree.levels[1][3], tree.levels[2][0]],
            root,
            ROOT_MISMATCH,
            "an inner node presented as a leaf of a smaller tree (second pre-image)",
        ),
        "trailing-garbage.json": case(
            leaf, i, n, [*proof, keccak(b"garbage")], root, BAD_LENGTH, "an extra hash after the proof"
        ),
        "truncated-proof.json": case(leaf, i, n, proof[:-1], root, BAD_LENGTH, "the last proof hash dropped"),
        "empty-proof.json": case(leaf, i, n, [], root, BAD_LENGTH, "no proof at all"),
        "index-beyond-size.json": case(leaf, 7, n, proof, root, "outside a tree", "index equal to the size"),
        "negative-index.json": case(leaf, -1, n, proof, root, "outside a tree", "a negative index"),
        "zero-size.json": case(leaf, 0, 0, [], root, "outside a tree", "a tree of no leaves"),
        "short-proof-hash.json": case(
            leaf, i, n, [proof[0], proof[1][:31], proof[2]], root, "is not 32 bytes", "a proof hash cut to 31 bytes"
        ),
        "non-hex-proof.json": case(
            leaf,
            i,
            n,
            [proof[0], "0xzz" + proof[1].hex()[2:], proof[2]],
            root,
            "does not parse",
            "a proof hash that is not hex",
        ),
        "short-root.json": case(leaf, i, n, proof, root[:31], "root is not 32 bytes", "a root cut to 31 bytes"),
    }


def main() -> None:
    for old in HERE.glob("*.json"):
        old.unlink()
    for name, body in cases().items():
        (HERE / name).write_text(json.dumps(body, indent=2) + "\n")
    print(f"wrote {len(cases())} cases to {HERE}")


if __name__ == "__main__":
    main()
