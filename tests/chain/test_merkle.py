"""RFC 6962 Merkle trees: the tree matches the RFC's recursive definition, every proof verifies,
and every tampered proof in testdata/inclusion/ fails naming the proof check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_utils import keccak as eth_keccak
from hypothesis import given
from hypothesis import strategies as st

from chain.errors import ChainValueError, VerificationError
from chain.merkle import (
    Tree,
    handoff_leaf,
    hash_children,
    hash_leaf,
    inclusion_proof,
    keccak,
    parse_proof,
    root,
    verify_inclusion,
)

CASES = Path(__file__).parent / "testdata" / "inclusion"


def rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH straight from RFC 6962 section 2.1, recursively."""
    if len(leaves) == 1:
        return hash_leaf(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hash_children(rfc6962_root(leaves[:k]), rfc6962_root(leaves[k:]))


def rfc6962_path(index: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from RFC 6962 section 2.1.1."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return rfc6962_path(index, leaves[:k]) + [rfc6962_root(leaves[k:])]
    return rfc6962_path(index - k, leaves[k:]) + [rfc6962_root(leaves[:k])]


def leaves(n: int) -> list[bytes]:
    return [b"leaf %d" % i for i in range(n)]


def test_keccak_is_the_evms_keccak():
    for data in (b"", b"abc", bytes(range(256)) * 3):
        assert keccak(data) == eth_keccak(data)


def test_leaf_and_node_hashes_carry_distinct_prefixes():
    assert hash_leaf(b"x") == keccak(b"\x00x")
    assert hash_children(b"a" * 32, b"b" * 32) == keccak(b"\x01" + b"a" * 32 + b"b" * 32)


@pytest.mark.parametrize("n", [*range(1, 20), 31, 32, 33, 100, 257])
def test_the_tree_and_every_proof_match_rfc6962(n):
    ls = leaves(n)
    tree = Tree(ls)
    assert tree.root == root(ls) == rfc6962_root(ls)
    for i in range(n):
        assert tree.proof(i) == rfc6962_path(i, ls) == inclusion_proof(ls, i)
        verify_inclusion(ls[i], i, n, tree.proof(i), tree.root)


@given(st.lists(st.binary(max_size=40), min_size=1, max_size=70), st.data())
def test_any_proof_verifies_and_any_other_leaf_does_not(ls, data):
    i = data.draw(st.integers(0, len(ls) - 1))
    tree = Tree(ls)
    verify_inclusion(ls[i], i, len(ls), tree.proof(i), tree.root)
    j = data.draw(st.integers(0, len(ls) - 1))
    if ls[j] != ls[i]:
        with pytest.raises(VerificationError) as err:
            verify_inclusion(ls[j], i, len(ls), tree.proof(i), tree.root)
        assert err.value.check == "proof"


def test_a_tree_needs_a_leaf_and_a_proof_needs_a_real_index():
    with pytest.raises(ChainValueError):
        Tree([])
    with pytest.raises(ChainValueError):
        Tree(leaves(3)).proof(3)


def test_the_handoff_leaf_is_hash_step_and_case():
    h, s, c = keccak(b"h"), keccak(b"s"), keccak(b"c")
    assert handoff_leaf("0x" + h.hex(), s, "0x" + c.hex()) == h + s + c
    with pytest.raises(ChainValueError, match="step id must be 32 bytes"):
        handoff_leaf(h, s[:31], c)
    with pytest.raises(ChainValueError, match="case commitment is not hex"):
        handoff_leaf(h, s, "0xnothex")


def tamper_cases() -> list[Path]:
    return sorted(CASES.glob("*.json"))


def test_the_tamper_cases_are_there():
    names = {p.name for p in tamper_cases()}
    assert {
        "valid.json",
        "modified-proof[0]-bit-@3.json",
        "wrong-leaf.json",
        "wrong-index.json",
        "trailing-garbage.json",
        "truncated-proof.json",
    } <= names


@pytest.mark.parametrize("path", tamper_cases(), ids=lambda p: p.stem)
def test_each_tamper_case_fails_naming_the_proof_check(path):
    case = json.loads(path.read_text())

    def run():
        verify_inclusion(
            bytes.fromhex(case["leaf"][2:]),
            case["index"],
            case["size"],
            parse_proof(case["proof"]),
            bytes.fromhex(case["root"][2:]),
        )

    if case["want"] is None:
        run()
        return
    with pytest.raises(VerificationError) as err:
        run()
    assert err.value.check == "proof"
    assert case["want"] in err.value.message, (case["description"], err.value.message)


def test_the_checked_in_cases_are_what_the_generator_writes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate_inclusion", CASES / "generate.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    for name, body in gen.cases().items():
        assert json.loads((CASES / name).read_text()) == body, name
