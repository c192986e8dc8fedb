"""Block headers as bytes: the RLP a block's hash is taken over, built from a node's JSON block
(``header_rlp``) and read back by an auditor (``decode_header``), who hashes it itself and takes
the state root from it rather than from anyone's word.

Field order is the Ethereum header's, each fork's fields appended when the block has them
(London's base fee, Shanghai's withdrawals root, Cancun's blob gas and beacon root, Prague's
requests hash). Pure: no network, no node code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import rlp

from chain import rlpcodec
from chain.errors import ChainValueError, VerificationError
from chain.merkle import keccak

# (JSON key, is a quantity) in RLP order
FIELDS: tuple[tuple[str, bool], ...] = (
    ("parentHash", False),
    ("sha3Uncles", False),
    ("miner", False),
    ("stateRoot", False),
    ("transactionsRoot", False),
    ("receiptsRoot", False),
    ("logsBloom", False),
    ("difficulty", True),
    ("number", True),
    ("gasLimit", True),
    ("gasUsed", True),
    ("timestamp", True),
    ("extraData", False),
    ("mixHash", False),
    ("nonce", False),
)
OPTIONAL: tuple[tuple[str, bool], ...] = (
    ("baseFeePerGas", True),
    ("withdrawalsRoot", False),
    ("blobGasUsed", True),
    ("excessBlobGas", True),
    ("parentBeaconBlockRoot", False),
    ("requestsHash", False),
)
MAX_HEADER_BYTES = 4096  # a header is ~600 bytes; extraData is bounded by consensus rules


def header_rlp(block: dict[str, Any]) -> bytes:
    """The RLP of a JSON block's header (``eth_getBlockByNumber``); its keccak is the block hash
    (on Besu QBFT, the keccak of it without its seals), which this checks (ChainValueError when
    the node's JSON does not rebuild its own hash)."""
    values: list[bytes | int] = []
    try:
        for key, quantity in FIELDS:
            values.append(int(block[key], 16) if quantity else bytes.fromhex(block[key][2:]))
        for n, (key, quantity) in enumerate(OPTIONAL):
            if key not in block:
                if any(k in block for k, _ in OPTIONAL[n + 1 :]):
                    raise ChainValueError(f"the block has a later header field but not {key}")
                break
            values.append(int(block[key], 16) if quantity else bytes.fromhex(block[key][2:]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainValueError(f"not a JSON block header: {exc!r}") from exc
    raw = rlp.encode(values)
    if "hash" in block and "0x" + keccak(raw).hex() != str(block["hash"]).lower() and not _qbft_hash(raw, block):
        raise ChainValueError(f"block {block.get('number')}: its fields do not hash to its hash {block['hash']}")
    return raw


def _qbft_hash(raw: bytes, block: dict[str, Any]) -> bool:
    """Whether a Besu QBFT block's hash is that of this header (its seals left out, chain.qbft)."""
    from chain.qbft import read_qbft_header

    try:
        return "0x" + read_qbft_header(raw).hash.hex() == str(block["hash"]).lower()
    except VerificationError:
        return False


@dataclass(frozen=True)
class Header:
    """What the auditor reads of a header it hashed itself."""

    hash: bytes
    number: int
    state_root: bytes
    timestamp: int
    parent_hash: bytes


def decode_header(raw: bytes | str) -> Header:
    """A header from its RLP (bytes or 0x-hex); VerificationError "header" when it is not one."""
    try:
        data = bytes.fromhex(raw[2:]) if isinstance(raw, str) and raw[:2] == "0x" else raw
        if not isinstance(data, bytes):
            raise ValueError("not 0x-hex")
        if len(data) > MAX_HEADER_BYTES:
            raise ValueError(f"{len(data)} bytes, more than a header's {MAX_HEADER_BYTES}")
        fields = rlpcodec.decode(data)
        if not isinstance(fields, list) or not len(FIELDS) <= len(fields) <= len(FIELDS) + len(OPTIONAL):
            raise ValueError("not a list of header fields")
        if not all(isinstance(f, bytes) for f in fields):
            raise ValueError("a header field is a list")
        if len(fields[0]) != 32 or len(fields[3]) != 32:
            raise ValueError("parentHash and stateRoot are 32 bytes")
        return Header(
            hash=keccak(data),
            number=int.from_bytes(fields[8], "big"),
            state_root=fields[3],
            timestamp=int.from_bytes(fields[11], "big"),
            parent_hash=fields[0],
        )
    except ValueError as exc:
        raise VerificationError("header", f"not a block header: {exc}") from exc


__all__ = ["Header", "decode_header", "header_rlp"]
