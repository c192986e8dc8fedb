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
    if isinstance(value, str):  # the usual: eth_getProof's quantities
        if _QUANTITY.fullmatch(value):
            return int(value[2:], 16)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    raise VerificationError("proof-format", f"{what} {value!r} is not a quantity")


# The usual branch node (the hot path of an audit): its 16 children each empty (0x80) or a 32-byte
# hash (0xa0 ...), its value empty. Checked whole by one regular expression, then read in place:
# _SKIP[k] passes over the first k children to the k-th. Any other node is decoded item by item
# (decode_item); either way the same children for the same bytes.
_BRANCH = re.compile(rb"(?:\x80|\xa0.{32}){16}\x80", re.DOTALL)
_SKIP = [re.compile(rb"(?:\x80|\xa0.{32}){%d}" % k, re.DOTALL) for k in range(16)]


def _node(raw: bytes) -> list | tuple[bytes, int]:
    """A trie node from its RLP: a branch (17 items) or an extension or leaf (2); the usual branch
    (``_BRANCH``) as (its RLP, where its first child starts), its children read when needed."""
    first = raw[0]
    if first == 0xF9 or first == 0xF8:  # a list whose length takes 2 (or 1) bytes
        start = first - 0xF6
        if int.from_bytes(raw[1:start], "big") == len(raw) - start and _BRANCH.fullmatch(raw, start):
            return raw, start
    try:
        node, end = decode_item(raw)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"not RLP: {exc}") from exc
    if end != len(raw) or not isinstance(node, list) or len(node) not in (2, 17):
        raise ValueError("not a trie node")
    return node


class NodeCache:
    """What one verification has read of trie nodes, shared by all the proofs it checks (of one
    bundle: the blocks' states share most of their nodes): each node as given (hex) -> its bytes
    and keccak, and each node's decoding by that keccak. Both are functions of their keys alone,
    so sharing them changes no verdict: a proof still reaches a node only through the reference
    its parent holds, and only a node the proof itself lists (``_nodes`` per proof). Make one per
    verification; never share one with another bundle's."""

    __slots__ = ("given", "decoded", "keys")

    def __init__(self) -> None:
        self.given: dict[str | bytes, tuple[bytes, bytes] | None] = {}  # None: the empty trie's b'\x80'
        self.decoded: dict[bytes, list | tuple[bytes, int]] = {}  # as _node reads them
        self.keys: dict[bytes, bytes] = {}  # address or slot -> its keccak, the key of its trie path

    def key(self, data: bytes) -> bytes:
        found = self.keys.get(data)
        if found is None:
            found = self.keys[data] = keccak(data)
        return found


_UNREAD = object()


def _nodes(
    check: str, nodes: Any, what: str, into: dict[bytes, bytes] | None = None, cache: NodeCache | None = None
) -> dict[bytes, bytes]:
    """hash -> node's RLP, for every node of a proof, added to ``into``; ``cache``: the nodes (as
    given) already read in this verification, each read (hex-decoded, hashed) once."""
    if not isinstance(nodes, (list, tuple)):
        raise VerificationError("proof-format", f"{what} is not a list of nodes")
    out = {} if into is None else into
    given = cache.given if cache is not None else {}
    for i, n in enumerate(nodes):
        found = given.get(n, _UNREAD) if isinstance(n, (str, bytes)) else _UNREAD
        if found is _UNREAD:
            raw = _bytes(n, f"{what}[{i}]")
            if raw == b"\x80":  # the empty trie, as anvil lists an empty storage: its root is BLANK_ROOT
                found = None
            elif not raw or raw[0] < 0xC0:
                raise VerificationError(check, f"{what}[{i}] is not a trie node")
            else:
                found = (keccak(raw), raw)  # decoded when a path reaches it (_lookup)
            if isinstance(n, (str, bytes)):
                given[n] = found
        if found is not None and found[0] not in out:
            out[found[0]] = found[1]
    return out


_NIBBLE = {c: i for i, c in enumerate("0123456789abcdef")}


def _lookup(
    check: str,
    root: bytes,
    key: bytes,
    nodes: dict[bytes, bytes],
    what: str,
    decoded: dict[bytes, list | tuple[bytes, int]] | None = None,
) -> bytes:
    """The value at ``key`` in the trie of ``root`` as ``nodes`` (by hash) prove it; b'' when the
    proof shows the key absent. A node the path needs and the proof lacks is a failure.
    ``decoded``: hash -> node, the nodes decoded so far in this verification (NodeCache)."""
    if root == BLANK_ROOT:
        return b""
    if decoded is None:
        decoded = {}
    path, at, ref = key.hex(), 0, root  # nibbles as hex digits
    while True:
        if isinstance(ref, bytes):
            if ref == b"":
                return b""
            raw = nodes.get(ref) if len(ref) == 32 else None
            if raw is None:
                raise VerificationError(check, f"{what} does not lead from root 0x{root.hex()}: no node 0x{ref.hex()}")
            node = decoded.get(ref)
            if node is None:
                try:
                    node = decoded[ref] = _node(raw)
                except ValueError as exc:
                    raise VerificationError(check, f"{what} has a node 0x{ref.hex()} that is {exc}") from exc
        else:
            node = ref  # a node under 32 bytes, inlined in its parent
        if node.__class__ is tuple:  # the usual branch (_BRANCH): no value, the child read in place
            if at == len(path):
                value = b""
                break
            body, pos = node
            pos = _SKIP[_NIBBLE[path[at]]].match(body, pos).end()
            ref, at = (body[pos + 1 : pos + 33] if body[pos] == 0xA0 else b""), at + 1
            continue
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


StateNodes = dict[bytes, bytes]  # hash -> node: the state trie's nodes read under one state root


class ProvenStorage:
    """One account's eth_getProof answer, checked from a state root once (steps (1)-(3)); then the
    value of any slot it answered (steps (4)-(5)), each node read once for all slots (and only the
    nodes of the slots asked for). ``state_nodes``: the state trie's nodes already read under
    that root (for other accounts); ``cache``: the verification's NodeCache (else its own)."""

    def __init__(
        self,
        state_root: bytes | str,
        address: bytes | str,
        proof: Mapping[str, Any],
        state_nodes: StateNodes | None = None,
        cache: NodeCache | None = None,
    ):
        self._cache = NodeCache() if cache is None else cache
        self.account = verify_account_proof(state_root, address, proof, state_nodes, self._cache)
        entries = proof.get("storageProof")
        if not isinstance(entries, (list, tuple)):
            raise VerificationError("proof-format", "storageProof is not a list")
        self._entries: dict[int, Mapping[str, Any]] = {}
        for e in entries:
            if isinstance(e, Mapping):
                self._entries.setdefault(_int(e.get("key"), "storage key"), e)
        self._nodes: dict[bytes, bytes] = {}  # the nodes of the entries asked for so far, by hash

    def value(self, slot: int) -> int:
        # (1) proof-format: the answer's entry for this slot
        if not (isinstance(slot, int) and 0 <= slot < 2**256):
            raise VerificationError("proof-format", f"slot {slot!r} is not a 256-bit number")
        entry = self._entries.get(slot)
        if entry is None:
            raise VerificationError("proof-format", f"no storageProof entry for slot {hex(slot)}")
        # (4) storage-proof
        _nodes("storage-proof", entry.get("proof"), "storageProof proof", self._nodes, self._cache)
        key = self._cache.key(slot.to_bytes(32, "big"))
        raw = _lookup(
            "storage-proof", self.account.storage_root, key, self._nodes, "storageProof proof", self._cache.decoded
        )
        try:
            value = int.from_bytes(_rlp_string(raw), "big") if raw else 0
        except ValueError as exc:
            raise VerificationError("storage-proof", f"the proven leaf is not a value: {exc}") from exc
        # (5) storage-claim (as eth_getProof writes the proven value, or any quantity equal to it)
        if "value" in entry:
            claimed = entry["value"]
            if claimed != hex(value) and _int(claimed, "storage value") != value:
                raise VerificationError("storage-claim", f"value {claimed} is not the proven {hex(value)}")
        return value


def _rlp_string(raw: bytes) -> bytes:
    item, end = decode_item(raw)
    if end != len(raw) or not isinstance(item, bytes) or len(item) > 32 or item[:1] == b"\x00":
        raise ValueError("not a 256-bit number")
    return item


def verify_account_proof(
    state_root: bytes | str,
    address: bytes | str,
    proof: Mapping[str, Any],
    state_nodes: StateNodes | None = None,
    cache: NodeCache | None = None,
) -> ProvenAccount:
    """Steps (1)-(3): the account ``proof`` (an eth_getProof answer) shows under ``state_root``;
    ``state_nodes``: the state trie's nodes already read under that root (for other accounts);
    ``cache``: the verification's NodeCache."""
    # (1) proof-format
    root = _bytes(state_root, "state root", 32)
    addr = _bytes(address, "address", 20)
    if not isinstance(proof, Mapping) or "accountProof" not in proof:
        raise VerificationError("proof-format", "not an eth_getProof answer (no accountProof)")
    # (2) account-proof
    cache = NodeCache() if cache is None else cache
    nodes = _nodes("account-proof", proof["accountProof"], "accountProof", state_nodes, cache)
    raw = _lookup("account-proof", root, cache.key(addr), nodes, "accountProof", cache.decoded)
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
    # (3) account-claim: what the answer says beside the proof must be what the proof shows (as
    # eth_getProof writes it, or in any other form that parses to it)
    for name, proven in (
        ("nonce", account.nonce),
        ("balance", account.balance),
        ("storageHash", account.storage_root),
        ("codeHash", account.code_hash),
    ):
        if name in proof:
            claimed = proof[name]
            if isinstance(proven, int):
                same = claimed == hex(proven) or _int(claimed, name) == proven
            else:
                same = claimed == "0x" + proven.hex() or _bytes(claimed, name, 32) == proven
            if not same:
                raise VerificationError("account-claim", f"{name} {claimed} is not the proven {proven!r}")
    return account


def verify_storage_proof(state_root: bytes | str, address: bytes | str, slot: int, proof: Mapping[str, Any]) -> int:
    """The value of storage ``slot`` of ``address`` under ``state_root``, as ``proof`` (an
    eth_getProof answer that asked for that slot) proves it: 0 for a proven absence. Raises
    VerificationError naming the step that failed."""
    return ProvenStorage(state_root, address, proof).value(slot)
