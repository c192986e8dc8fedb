"""The node's bottom-up ordered trie equals py-evm's HexaryTrie-built one."""

from __future__ import annotations

import random

import pytest
import rlp
from eth.db.trie import _make_trie_root_and_nodes
from trie import HexaryTrie

from chain.node.trie import ordered_trie_root_and_nodes


@pytest.mark.parametrize("n", [0, 1, 2, 3, 15, 16, 17, 100, 127, 128, 129, 255, 256, 257, 600, 1100])
def test_same_root_and_readable_nodes(n):
    rng = random.Random(n)
    values = [rng.randbytes(rng.choice([1, 3, 10, 29, 31, 33, 120, 300])) for _ in range(n)]
    root, nodes = ordered_trie_root_and_nodes(values)
    expected_root, expected_nodes = _make_trie_root_and_nodes(tuple(values))
    assert root == expected_root
    assert set(expected_nodes) - {expected_root} <= set(nodes)
    trie = HexaryTrie(dict(nodes), root)
    for i, v in enumerate(values):
        assert trie[rlp.encode(i, sedes=rlp.sedes.big_endian_int)] == v
