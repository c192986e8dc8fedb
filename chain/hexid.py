"""Ids as the chain writes them: ``0x`` and lower-case hex, to and from bytes.

Hashes, roots, steps, agencies and case commitments travel as hex strings (JSON, web3, the
store) and are hashed, compared and sent to contracts as bytes; these three functions are the
only place ``chain`` converts between the two.
"""

from __future__ import annotations

from chain.errors import ChainValueError

HASH_SIZE = 32


def to_hex(value: bytes) -> str:
    """``0x`` and lower-case hex, as events, receipts and records carry ids."""
    return "0x" + bytes(value).hex()


def from_hex(value: str, what: str = "value") -> bytes:
    """The bytes of hex with or without ``0x``; ChainValueError("<what> is not hex") otherwise."""
    try:
        return bytes.fromhex(value.removeprefix("0x"))
    except (AttributeError, TypeError, ValueError) as exc:
        raise ChainValueError(f"{what} is not hex") from exc


def bytes32(value: str | bytes, what: str) -> bytes:
    """A 32-byte id (a hash, a step or agency id, a case commitment) given as hex or bytes."""
    if isinstance(value, str):
        value = from_hex(value, what)
    if len(value) != HASH_SIZE:
        raise ChainValueError(f"{what} must be 32 bytes, got {len(value)}")
    return bytes(value)


__all__ = ["HASH_SIZE", "bytes32", "from_hex", "to_hex"]
