"""Hyperledger Besu's QBFT headers, read offline: the block hash as Besu takes it and the
validators whose committed seals the header carries (TRUST-NOTES.md, "Besu QBFT headers").

extraData = RLP([32-byte vanity, [validator addresses], vote, round, [committed seals]]), a seal
65 bytes r||s||v (v 0 or 1). The block hash is keccak over the header with extraData re-encoded
without the seals and with round 0; each seal is a validator's signature over keccak of the
header with extraData re-encoded without the seals only (its real round). So a seal vouches for
exactly one header, and the hash the anchors name is recomputed here, not taken from anyone.

Pure: no network. Checked against headers built to that description (tests/chain/test_qbft.py),
not yet against one a running Besu network sealed.
"""

from __future__ import annotations

from dataclasses import dataclass

import rlp

from chain import rlpcodec
from chain.errors import VerificationError
from chain.handoff import recover_signer
from chain.hexid import to_hex
from chain.merkle import keccak

EXTRA_DATA = 12  # the header field


@dataclass(frozen=True)
class QbftHeader:
    hash: bytes  # the block hash, as Besu computes it
    sealers: tuple[str, ...]  # lower-case addresses whose committed seals recover, in the header's order


def _extra(fields: list) -> tuple[bytes, list, object, bytes, list]:
    try:
        extra = rlpcodec.decode(fields[EXTRA_DATA])
        if not isinstance(extra, list) or len(extra) != 5:
            raise ValueError("extraData is not [vanity, validators, vote, round, seals]")
        vanity, validators, vote, round_, seals = extra
        if not (isinstance(vanity, bytes) and isinstance(validators, list) and isinstance(round_, bytes)):
            raise ValueError("extraData fields have the wrong types")
        if not isinstance(seals, list) or not all(isinstance(s, bytes) and len(s) == 65 for s in seals):
            raise ValueError("committed seals are not 65-byte signatures")
        return vanity, validators, vote, round_, seals
    except ValueError as exc:
        raise VerificationError("header", f"not a QBFT header: {exc}") from exc


def _hash_with(fields: list, extra: list) -> bytes:
    return keccak(rlp.encode([*fields[:EXTRA_DATA], rlp.encode(extra), *fields[EXTRA_DATA + 1 :]]))


def read_qbft_header(raw: bytes | str) -> QbftHeader:
    """The Besu block hash of a header's RLP and the signers of its committed seals (a seal that
    does not recover is a VerificationError "header": a sealed header carries none)."""
    data = bytes.fromhex(raw[2:]) if isinstance(raw, str) else raw
    try:
        fields = rlpcodec.decode(data)
    except ValueError as exc:
        raise VerificationError("header", f"not a block header: {exc}") from exc
    if not isinstance(fields, list) or len(fields) <= EXTRA_DATA or not isinstance(fields[EXTRA_DATA], bytes):
        raise VerificationError("header", "not a block header")
    vanity, validators, vote, round_, seals = _extra(fields)
    block_hash = _hash_with(fields, [vanity, validators, vote, b"", []])
    sealed = to_hex(_hash_with(fields, [vanity, validators, vote, round_, []]))
    sealers = []
    for n, seal in enumerate(seals):
        try:
            sealers.append(recover_signer(sealed, to_hex(seal)).lower())
        except VerificationError as exc:
            raise VerificationError("header", f"committed seal {n} does not recover: {exc.message}") from exc
    return QbftHeader(block_hash, tuple(sealers))


__all__ = ["QbftHeader", "read_qbft_header"]
