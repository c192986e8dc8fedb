"""The fast verification path gives exactly what the reference libraries give: canonical bytes
equal rfc8785's, and the recovered signer equals eth_keys' (or both refuse)."""

from __future__ import annotations

import hashlib
import secrets

import pytest
import rfc8785
from eth_keys import keys
from eth_keys.constants import SECPK1_N
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import VerificationError
from chain.handoff import Handoff, canonical_json, definition_hash, recover_signer, sign

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


def reference_definition_hash(value):
    try:
        return "sha256:" + hashlib.sha256(rfc8785.dumps(value)).hexdigest()
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        return type(exc)


def fast_definition_hash(value):
    try:
        return definition_hash(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        return type(exc)


@given(json_values)
@settings(max_examples=300)
def test_definition_hash_equals_sha256_of_rfc8785_memoised_or_not(value):
    expected = reference_definition_hash(value)
    assert fast_definition_hash(value) == expected
    assert fast_definition_hash(value) == expected  # again: now from the memo


class Text(str):
    pass


@pytest.mark.parametrize(
    ("first", "then"),
    [
        ({"1": "x"}, {1: "x"}),  # a key that is not a string: refused, never the string key's hash
        ({"a": "x"}, {"a": Text("x")}),  # a str subclass: not memoised, hashed as rfc8785 hashes it
        ({"a": 1}, {"a": 1.0}),  # an int and its float: distinct keys, the same canonical bytes
        ({"a": [1, 2]}, {"a": (1, 2)}),
        ({"a": 0.1}, {"a": float("nan")}),
        ({"b": 1, "a": 2}, {"a": 2, "b": 1}),  # key order: a miss at most, the same hash
    ],
)
def test_the_definition_hash_memo_never_answers_for_another_value(first, then):
    assert fast_definition_hash(first) == reference_definition_hash(first)
    assert fast_definition_hash(then) == reference_definition_hash(then)
    assert fast_definition_hash(first) == reference_definition_hash(first)


def test_verify_address_is_verify_in_lower_case_with_the_same_errors():
    key = keys.PrivateKey(secrets.token_bytes(32))
    signed = sign(
        Handoff(
            flow="f",
            flow_version="v",
            rules_version="r",
            step="s",
            case="0x" + "11" * 32,
            agency="a",
            outcome="completed",
            decided_by="rule:r",
            time="2026-11-21T10:00:00.000Z",
        ),
        key.to_bytes(),
    )
    assert signed.verify_address() == signed.verify().lower() == signed.signer.lower()
    other = keys.PrivateKey(secrets.token_bytes(32)).public_key.to_checksum_address()
    for bad in (
        signed.model_copy(update={"hash": "0x" + "22" * 32}),
        signed.model_copy(update={"signer": other}),
        signed.model_copy(update={"signature": "0x1234"}),
        signed.model_copy(update={"hash": signed.hash.upper()}),  # "0X": the hash matches, it does not parse
    ):
        with pytest.raises(VerificationError) as slow:
            bad.verify()
        with pytest.raises(VerificationError) as quick:
            bad.verify_address()
        assert (quick.value.check, quick.value.message) == (slow.value.check, slow.value.message)
