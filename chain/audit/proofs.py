"""Offline verification of EIP-1186 proofs (an ``eth_getProof`` answer) against a state root.

Pure: no network, no node code. The caller vouches for the state root (a block header it
trusts); this module only checks that the answer's Merkle-Patricia proofs lead from that root to
the account and to the storage value, walking the trie by hand (hash-addressed nodes, each
decoded once: py-trie's ``HexaryTrie.get_from_proof`` does the same ~10x slower). The account
leaf is rlp([nonce, balance, storageRoot, codeHash]) at keccak(address); a storage leaf is
rlp(value) at keccak(pad32(slot)); a proof that ends off the key's path proves absence (0).

Steps, as ``VerificationError.check`` names them:
  (1) ``proof-format``   the inputs parse (32-byte root, 20-byte address, slot, hex nodes)
  (2) ``account-proof``  accountProof leads from the state root to the account (or its absence)
  (3) ``account-claim``  the answer's balance/nonce/storageHash/codeHash are the proven ones
  (4) ``storage-proof``  the slot's proof leads from the proven storage root to its value
  (5) ``storage-claim``  the answer's value is the proven one
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rlp

from chain.errors import ChainValueError, VerificationError
from chain.merkle import keccak
from chain.rlpcodec import decode_item

BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")


@dataclass(frozen=True)
class ProvenAccount:
    """An account as its proof shows it (all zero/empty when the proof shows it absent)."""

    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes

    @property
    def exists(self) -> bool:
        return (self.nonce, self.balance, self.storage_root, self.code_hash) != (0, 0, BLANK_ROOT, EMPTY_CODE_HASH)


def vyper_hashmap_slot(base_slot: int, key: bytes) -> int:
    """Storage slot of ``HashMap[bytes32, ...]`` entry ``key`` at ``base_slot`` (Vyper 0.4:
    keccak256(pad32(base_slot) ‖ key), the slot first; Solidity puts the key first)."""
    if len(key) != 32:
        raise ValueError(f"a bytes32 key is 32 bytes, got {len(key)}")
    return int.from_bytes(keccak(base_slot.to_bytes(32, "big") + key), "big")


# HandoffLedger's storage layout (`vyper -f layout contracts/HandoffLedger.vy`; checked by
# tests/chain/test_proofs.py): _anchored_at at slot 0, _batch_anchored_at at slot 1.
ANCHORED_AT_SLOT = 0
BATCH_ANCHORED_AT_SLOT = 1


def anchored_at_slot(handoff: bytes | str) -> int:
    """The HandoffLedger storage slot holding the block a handoff (or batch root, with
    BATCH_ANCHORED_AT_SLOT) was anchored in."""
    try:
        key = _bytes(handoff, "handoff hash", 32)
    except VerificationError as exc:
        raise ChainValueError(exc.message) from exc
    return vyper_hashmap_slot(ANCHORED_AT_SLOT, key)


def batch_anchored_at_slot(root: bytes | str) -> int:
    """The HandoffLedger storage slot holding the block a batch root was anchored in."""
    try:
        key = _bytes(root, "batch root", 32)
    except VerificationError as exc:
        raise ChainValueError(exc.message) from exc
    return vyper_hashmap_slot(BATCH_ANCHORED_AT_SLOT, key)


# AgencyRegistry's storage layout (`vyper -f layout contracts/AgencyRegistry.vy`; checked by
# tests/chain/test_proofs.py against eth_getStorageAt): _agencies at slot 1, each Agency struct's
# members in consecutive words from its entry's slot: name (String[64]: length and two words),
# account, signer, next_signer, next_signer_from, active.
AGENCIES_SLOT = 1
AGENCY_MEMBERS = {"account": 3, "signer": 4, "next_signer": 5, "next_signer_from": 6, "active": 7}
SIGNER_MEMBERS = ("signer", "next_signer", "next_signer_from")  # the signer schedule, as signer_schedule()


def agency_slots(agency: bytes | str) -> dict[str, int]:
    """member -> the AgencyRegistry storage slot of that member of the agency's entry (its id,
    keccak(name), as the registry keys it)."""
    try:
        key = _bytes(agency, "agency id", 32)
    except VerificationError as exc:
        raise ChainValueError(exc.message) from exc
    base = vyper_hashmap_slot(AGENCIES_SLOT, key)
    return {m: (base + offset) % 2**256 for m, offset in AGENCY_MEMBERS.items()}


def _bytes(value: Any, what: str, length: int | None = None) -> bytes:
    try:
        if isinstance(value, str):
            if not value.startswith(("0x", "0X")):
                raise ValueError("no 0x prefix")
            out = bytes.fromhex(value[2:])
        elif isinstance(value, (bytes, bytearray)):
            out = bytes(value)
        else:
            raise TypeError(type(value).__name__)
    except (ValueError, TypeError) as exc:
        raise VerificationError("proof-format", f"{what} is not hex data: {exc}") from exc
    if length is not None and len(out) != length:
        raise VerificationError("proof-format", f"{what} is {len(out)} bytes, not {length}")
    return out


_QUANTITY = re.compile(r"0[xX][0-9a-fA-F]+")


def _int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        return int(value[2:], 16)
    raise VerificationError("proof-format", f"{what} {value!r} is not a quantity")


def _node(raw: bytes) -> list:
    """A trie node from its RLP: a branch (17 items) or an extension or leaf (2)."""
    try:
        node, end = decode_item(raw)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not RLP: {exc}") from exc
    if end != len(raw) or not isinstance(node, list) or len(node) not in (2, 17):
        raise ValueError("not a trie node")
    return node


def _nodes(
    check: str, nodes: Any, what: str, into: dict[bytes, Any] | None = None, seen: set | None = None
) -> dict[bytes, Any]:
    """hash -> node (its RLP, an RLP list; decoded in place once a path reaches it), for every node
    of a proof; ``seen``: the nodes (as given) already in ``into``, so that nodes repeated across
    proofs are read once."""
    if not isinstance(nodes, (list, tuple)):
        raise VerificationError("proof-format", f"{what} is not a list of nodes")
    out = {} if into is None else into
    for i, n in enumerate(nodes):
        if seen is not None:
            if n in seen:
                continue
            seen.add(n)
        raw = _bytes(n, f"{what}[{i}]")
        if raw == b"\x80":  # the empty trie, as anvil lists an empty storage: its root is BLANK_ROOT
            continue
        if not raw or raw[0] < 0xC0:
            raise VerificationError(check, f"{what}[{i}] is not a trie node")
        out.setdefault(keccak(raw), raw)  # decoded when a path reaches it (_lookup)
    return out


_NIBBLE = {c: i for i, c in enumerate("0123456789abcdef")}


def _lookup(check: str, root: bytes, key: bytes, nodes: dict[bytes, Any], what: str) -> bytes:
    """The value at ``key`` in the trie of ``root`` as ``nodes`` (by hash) prove it; b'' when the
    proof shows the key absent. A node the path needs and the proof lacks is a failure."""
    if root == BLANK_ROOT:
        return b""
    path, at, ref = key.hex(), 0, root  # nibbles as hex digits
    while True:
        if isinstance(ref, bytes):
            if ref == b"":
                return b""
            node = nodes.get(ref) if len(ref) == 32 else None
            if node is None:
                raise VerificationError(check, f"{what} does not lead from root 0x{root.hex()}: no node 0x{ref.hex()}")
            if isinstance(node, bytes):
                try:
                    node = nodes[ref] = _node(node)
                except ValueError as exc:
                    raise VerificationError(check, f"{what} has a node 0x{ref.hex()} that is {exc}") from exc
        else:
            node = ref  # a node under 32 bytes, inlined in its parent
        if len(node) == 17:  # branch
            if at == len(path):
                value = node[16]
                break
            ref, at = node[_NIBBLE[path[at]]], at + 1
            continue
        encoded, child = node  # extension or leaf: a hex-prefix path
        flag = encoded[0] >> 4 if isinstance(encoded, bytes) and encoded else 4
        if flag > 3 or not (flag & 1 or encoded[0] & 15 == 0):
            raise VerificationError(check, f"{what} has a node whose path is not hex-prefix encoded")
        prefix = encoded.hex()[1 if flag & 1 else 2 :]
        if not path.startswith(prefix, at):
            return b""  # the key leaves the trie here: absent
        at += len(prefix)
        if flag & 2:  # leaf
            if at != len(path):
                return b""
            value = child
            break
        ref = child
    if not isinstance(value, bytes):
        raise VerificationError(check, f"{what} proves a value that is a list")
    return value


StateNodes = tuple[dict[bytes, Any], set]  # (hash -> node, the nodes as given) read under one state root


class ProvenStorage:
    """One account's eth_getProof answer, checked from a state root once (steps (1)-(3)); then the
    value of any slot it answered (steps (4)-(5)), each node read once for all slots (and only the
    nodes of the slots asked for)."""

    def __init__(
        self,
        state_root: bytes | str,
        address: bytes | str,
        proof: Mapping[str, Any],
        state_nodes: StateNodes | None = None,
    ):
        self.account = verify_account_proof(state_root, address, proof, state_nodes)
        entries = proof.get("storageProof")
        if not isinstance(entries, (list, tuple)):
            raise VerificationError("proof-format", "storageProof is not a list")
        self._entries: dict[int, Mapping[str, Any]] = {}
        for e in entries:
            if isinstance(e, Mapping):
                self._entries.setdefault(_int(e.get("key"), "storage key"), e)
        self._nodes: dict[bytes, Any] = {}  # the nodes of the entries asked for so far, by hash
        self._seen: set = set()

    def value(self, slot: int) -> int:
        # (1) proof-format: the answer's entry for this slot
        if not (isinstance(slot, int) and 0 <= slot < 2**256):
            raise VerificationError("proof-format", f"slot {slot!r} is not a 256-bit number")
        entry = self._entries.get(slot)
        if entry is None:
            raise VerificationError("proof-format", f"no storageProof entry for slot {hex(slot)}")
        # (4) storage-proof
        _nodes("storage-proof", entry.get("proof"), "storageProof proof", self._nodes, self._seen)
        key = keccak(slot.to_bytes(32, "big"))
        raw = _lookup("storage-proof", self.account.storage_root, key, self._nodes, "storageProof proof")
        try:
            value = int.from_bytes(_rlp_string(raw), "big") if raw else 0
        except ValueError as exc:
            raise VerificationError("storage-proof", f"the proven leaf is not a value: {exc}") from exc
        # (5) storage-claim
        if "value" in entry and _int(entry["value"], "storage value") != value:
            raise VerificationError("storage-claim", f"value {entry['value']} is not the proven {hex(value)}")
        return value


def _rlp_string(raw: bytes) -> bytes:
    item, end = decode_item(raw)
    if end != len(raw) or not isinstance(item, bytes) or len(item) > 32 or item[:1] == b"\x00":
        raise ValueError("not a 256-bit number")
    return item


def verify_account_proof(
    state_root: bytes | str, address: bytes | str, proof: Mapping[str, Any], state_nodes: StateNodes | None = None
) -> ProvenAccount:
    """Steps (1)-(3): the account ``proof`` (an eth_getProof answer) shows under ``state_root``;
    ``state_nodes``: the state trie's nodes already read under that root (for other accounts)."""
    # (1) proof-format
    root = _bytes(state_root, "state root", 32)
    addr = _bytes(address, "address", 20)
    if not isinstance(proof, Mapping) or "accountProof" not in proof:
        raise VerificationError("proof-format", "not an eth_getProof answer (no accountProof)")
    # (2) account-proof
    into, seen = state_nodes if state_nodes is not None else ({}, set())
    nodes = _nodes("account-proof", proof["accountProof"], "accountProof", into, seen)
    raw = _lookup("account-proof", root, keccak(addr), nodes, "accountProof")
    if raw:
        try:
            leaf, end = decode_item(raw)
            if end != len(raw) or not isinstance(leaf, list) or len(leaf) != 4:
                raise ValueError("not rlp([nonce, balance, storageRoot, codeHash])")
            nonce, balance, storage_root, code_hash = leaf
            if not all(isinstance(f, bytes) for f in leaf) or len(storage_root) != 32 or len(code_hash) != 32:
                raise ValueError("not rlp([nonce, balance, storageRoot, codeHash])")
        except (ValueError, IndexError) as exc:
            raise VerificationError("account-proof", f"the proven leaf is not an account: {exc}") from exc
        account = ProvenAccount(int.from_bytes(nonce, "big"), int.from_bytes(balance, "big"), storage_root, code_hash)
    else:
        account = ProvenAccount(0, 0, BLANK_ROOT, EMPTY_CODE_HASH)
    # (3) account-claim: what the answer says beside the proof must be what the proof shows
    claims = {
        "nonce": (_int, account.nonce),
        "balance": (_int, account.balance),
        "storageHash": (lambda v, w: _bytes(v, w, 32), account.storage_root),
        "codeHash": (lambda v, w: _bytes(v, w, 32), account.code_hash),
    }
    for name, (parse, proven) in claims.items():
        if name in proof and parse(proof[name], name) != proven:
            raise VerificationError("account-claim", f"{name} {proof[name]} is not the proven {proven!r}")
    return account


def verify_storage_proof(state_root: bytes | str, address: bytes | str, slot: int, proof: Mapping[str, Any]) -> int:
    """The value of storage ``slot`` of ``address`` under ``state_root``, as ``proof`` (an
    eth_getProof answer that asked for that slot) proves it: 0 for a proven absence. Raises
    VerificationError naming the step that failed."""
    return ProvenStorage(state_root, address, proof).value(slot)
