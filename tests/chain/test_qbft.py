"""Besu QBFT headers read offline (chain/qbft.py), on headers built here as TRUST-NOTES.md describes
them (no Besu runs here): the block hash leaves the seals and the round out, each committed seal
signs the header with its round, and a seal over anything else recovers some other key."""

from __future__ import annotations

import secrets

import pytest
import rlp
from eth_keys import keys

from chain.errors import VerificationError
from chain.header import decode_header
from chain.merkle import keccak
from chain.qbft import read_qbft_header

VALIDATORS = [secrets.token_bytes(32) for _ in range(4)]


def address(key: bytes) -> bytes:
    return keys.PrivateKey(key).public_key.to_canonical_address()


def fields(number: int = 7, state_root: bytes | None = None, timestamp: int = 1_700_000_000) -> list:
    """A cancun-shaped header's fields, extraData (index 12) left to fill."""
    return [
        secrets.token_bytes(32),  # parentHash
        keccak(rlp.encode([])),  # sha3Uncles
        secrets.token_bytes(20),  # miner
        state_root or secrets.token_bytes(32),
        secrets.token_bytes(32),
        secrets.token_bytes(32),
        bytes(256),  # logsBloom
        0,
        number,
        30_000_000,
        21_000,
        timestamp,
        b"",  # extraData
        bytes(32),
        bytes(8),
        7,  # baseFeePerGas
    ]


def sealed(
    header: list, signers: list[bytes], *, round_: int = 1, validators: list[bytes] | None = None
) -> tuple[bytes, bytes]:
    """(the header's RLP with QBFT extraData sealed by ``signers`` at ``round_``, Besu's block hash)."""
    vanity, listed = bytes(32), [address(k) for k in (validators or VALIDATORS)]

    def with_extra(round_value: int, seals: list[bytes]) -> list:
        return [*header[:12], rlp.encode([vanity, listed, [], round_value, seals]), *header[13:]]

    seal_hash = keccak(rlp.encode(with_extra(round_, [])))
    seals = [keys.PrivateKey(k).sign_msg_hash(seal_hash).to_bytes() for k in signers]
    return rlp.encode(with_extra(round_, seals)), keccak(rlp.encode(with_extra(0, [])))


def test_the_block_hash_leaves_seals_and_round_out_and_each_seal_recovers_its_validator():
    raw, block_hash = sealed(fields(), VALIDATORS[:3], round_=2)
    q = read_qbft_header(raw)
    assert q.hash == block_hash != keccak(raw)
    assert q.sealers == tuple("0x" + address(k).hex() for k in VALIDATORS[:3])
    assert read_qbft_header("0x" + raw.hex()) == q
    assert decode_header(raw).number == 7  # the ordinary reading of the same header still works


def test_a_seal_over_another_round_recovers_another_key():
    raw, _ = sealed(fields(), VALIDATORS[:1], round_=1)
    extra = rlp.decode(rlp.decode(raw)[12])
    extra[3] = b"\x02"  # the round changed after sealing
    header = rlp.decode(raw)
    header[12] = rlp.encode(extra)
    assert read_qbft_header(rlp.encode(header)).sealers != ("0x" + address(VALIDATORS[0]).hex(),)


@pytest.mark.parametrize(
    "extra",
    [b"", rlp.encode([bytes(32), [], [], b""]), rlp.encode([bytes(32), [], [], b"", [b"\x01" * 64]])],
    ids=["no_extra_data", "four_fields", "a_seal_of_64_bytes"],
)
def test_an_extra_data_that_is_not_qbfts_is_refused(extra):
    header = fields()
    header[12] = extra
    with pytest.raises(VerificationError) as err:
        read_qbft_header(rlp.encode(header))
    assert err.value.check == "header"
