"""The fast verification path gives exactly what the reference libraries give: canonical bytes
equal rfc8785's, and the recovered signer equals eth_keys' (or both refuse)."""

from __future__ import annotations

import secrets

import pytest
import rfc8785
from eth_keys import keys
from eth_keys.constants import SECPK1_N
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import VerificationError
from chain.handoff import canonical_json, recover_signer

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def reference(value):
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        return type(exc)


def fast(value):
    try:
        return canonical_json(value)
    except rfc8785.CanonicalizationError as exc:
        return type(exc)


@given(json_values)
@settings(max_examples=400)
def test_canonical_bytes_equal_rfc8785_for_any_json_value(value):
    assert fast(value) == reference(value)


@pytest.mark.parametrize(
    "value",
    [
        {"\U0001f600": 1, "\ufb01": 2, "a": 3},  # UTF-16 order differs from code point order
        {"k": "\ud800"},  # a lone surrogate
        {"big": 2**53},
        {"float": 1.0, "e": 1e21},
        {"ctl": '\x00\x1f\x7f"\\\n\u2028'},
    ],
)
def test_canonical_bytes_equal_rfc8785_at_the_edges(value):
    assert fast(value) == reference(value)


def eth_keys_signer(digest: bytes, sig: bytes):
    try:
        return keys.Signature(sig).recover_public_key_from_msg_hash(digest).to_checksum_address()
    except Exception:
        return None


def fast_signer(digest: bytes, sig: bytes):
    try:
        return recover_signer("0x" + digest.hex(), "0x" + sig.hex())
    except VerificationError as exc:
        assert exc.check == "signature"
        return None


def test_the_recovered_signer_equals_eth_keys():
    for _ in range(50):
        key, digest = keys.PrivateKey(secrets.token_bytes(32)), secrets.token_bytes(32)
        sig = key.sign_msg_hash(digest).to_bytes()
        assert fast_signer(digest, sig) == eth_keys_signer(digest, sig) == key.public_key.to_checksum_address()
        r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
        high_s = r + (SECPK1_N - s).to_bytes(32, "big") + bytes([v ^ 1])  # the malleable twin
        assert fast_signer(digest, high_s) == eth_keys_signer(digest, high_s)


@pytest.mark.parametrize(
    "sig",
    [
        b"",
        b"\x01" * 64,
        b"\x01" * 64 + b"\x02",
        b"\x01" * 64 + b"\x1b",
        b"\x00" * 65,
        SECPK1_N.to_bytes(32, "big") + b"\x01" * 32 + b"\x00",
        b"\x01" * 32 + SECPK1_N.to_bytes(32, "big") + b"\x00",
        b"\xff" * 64 + b"\x00",
        b"\x01" * 66,
    ],
)
def test_bad_signatures_are_refused_as_eth_keys_refuses_them(sig):
    digest = secrets.token_bytes(32)
    assert fast_signer(digest, sig) == eth_keys_signer(digest, sig)


def test_a_hash_of_the_wrong_length_is_refused():
    with pytest.raises(VerificationError, match="not 32"):
        recover_signer("0x1234", "0x" + "01" * 65)
