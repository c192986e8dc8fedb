"""Offline verification of EIP-1186 proofs (an ``eth_getProof`` answer) against a state root.

Pure: no network, no node code. The caller vouches for the state root (a block header it
trusts); this module only checks that the answer's Merkle-Patricia proofs lead from that root to
the account and to the storage value, with py-trie's ``HexaryTrie.get_from_proof``. The account
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

from collections.abc import Mapping
from dataclasses import dataclass
from string import hexdigits
from typing import Any

import rlp
from eth_hash.auto import keccak
from rlp.sedes import big_endian_int, binary
from trie import HexaryTrie

from chain.errors import ChainValueError, VerificationError

BLANK_ROOT = keccak(rlp.encode(b""))
EMPTY_CODE_HASH = keccak(b"")


class _AccountRlp(rlp.Serializable):
    fields = [
        ("nonce", big_endian_int),
        ("balance", big_endian_int),
        ("storage_root", binary.fixed_length(32)),
        ("code_hash", binary.fixed_length(32)),
    ]


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


def _int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    if isinstance(value, str) and value[:2] in ("0x", "0X") and value[2:] and all(c in hexdigits for c in value[2:]):
        return int(value[2:], 16)
    raise VerificationError("proof-format", f"{what} {value!r} is not a quantity")


def _walk(check: str, root: bytes, key: bytes, nodes: Any, what: str) -> bytes:
    """The value at ``key`` in the trie of ``root`` as ``nodes`` prove it (b'' if absent)."""
    if not isinstance(nodes, (list, tuple)):
        raise VerificationError("proof-format", f"{what} is not a list of nodes")
    try:
        decoded = [rlp.decode(_bytes(n, f"{what}[{i}]")) for i, n in enumerate(nodes)]
    except rlp.DecodingError as exc:
        raise VerificationError(check, f"{what} has a node that is not RLP: {exc}") from exc
    try:
        return HexaryTrie.get_from_proof(root, key, decoded)
    except Exception as exc:  # BadTrieProof (missing/tampered node) or a malformed node
        raise VerificationError(check, f"{what} does not lead from root 0x{root.hex()}: {exc}") from exc


def verify_account_proof(state_root: bytes | str, address: bytes | str, proof: Mapping[str, Any]) -> ProvenAccount:
    """Steps (1)-(3): the account ``proof`` (an eth_getProof answer) shows under ``state_root``."""
    # (1) proof-format
    root = _bytes(state_root, "state root", 32)
    addr = _bytes(address, "address", 20)
    if not isinstance(proof, Mapping) or "accountProof" not in proof:
        raise VerificationError("proof-format", "not an eth_getProof answer (no accountProof)")
    # (2) account-proof
    raw = _walk("account-proof", root, keccak(addr), proof["accountProof"], "accountProof")
    if raw:
        try:
            leaf = rlp.decode(raw, sedes=_AccountRlp)
        except rlp.DeserializationError as exc:
            raise VerificationError("account-proof", f"the proven leaf is not an account: {exc}") from exc
        account = ProvenAccount(leaf.nonce, leaf.balance, leaf.storage_root, leaf.code_hash)
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
    account = verify_account_proof(state_root, address, proof)
    # (1) proof-format: the answer's entry for this slot
    if not (isinstance(slot, int) and 0 <= slot < 2**256):
        raise VerificationError("proof-format", f"slot {slot!r} is not a 256-bit number")
    entries = proof.get("storageProof")
    if not isinstance(entries, (list, tuple)):
        raise VerificationError("proof-format", "storageProof is not a list")
    entry = next((e for e in entries if isinstance(e, Mapping) and _int(e.get("key"), "storage key") == slot), None)
    if entry is None:
        raise VerificationError("proof-format", f"no storageProof entry for slot {hex(slot)}")
    # (4) storage-proof
    raw = _walk(
        "storage-proof",
        account.storage_root,
        keccak(slot.to_bytes(32, "big")),
        entry.get("proof"),
        "storageProof proof",
    )
    try:
        value = rlp.decode(raw, sedes=big_endian_int) if raw else 0
    except rlp.DeserializationError as exc:
        raise VerificationError("storage-proof", f"the proven leaf is not a value: {exc}") from exc
    # (5) storage-claim
    if "value" in entry and _int(entry["value"], "storage value") != value:
        raise VerificationError("storage-claim", f"value {entry['value']} is not the proven {hex(value)}")
    return value
