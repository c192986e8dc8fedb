import secrets

import pytest

from chain.errors import ChainValueError, VerificationError
from chain.handoff import Handoff, case_commitment, new_salt, recover_signer, sign

KEY = secrets.token_bytes(32)
CASE = case_commitment("C-1", new_salt())


def record(**over):
    base = dict(
        flow="f",
        flow_version="sha256:x",
        rules_version="sha256:r",
        step="s",
        case=CASE,
        agency="tax",
        outcome="completed",
        outputs={"名称": "济南", "n": 1},
        decided_by="rule:r",
        time="2026-11-21T10:00:00.000Z",
    )
    return Handoff(**{**base, **over})


def test_canonical_bytes_are_rfc8785_sorted_and_utf8():
    raw = record().canonical_bytes()
    assert raw.startswith(b'{"agency":"tax","attempt":1,"case":')
    assert "济南".encode() in raw


def test_signature_recovers_the_signer_and_hash_matches():
    signed = sign(record(), KEY)
    assert signed.verify() == signed.signer
    assert recover_signer(signed.hash, signed.signature) == signed.signer


def test_parent_order_does_not_change_the_hash():
    a, b = "0x" + "01" * 32, "0x" + "02" * 32
    assert record(parents=[a, b]).hash_hex() == record(parents=[b, a]).hash_hex()


def test_a_changed_field_breaks_the_hash():
    signed = sign(record(), KEY)
    tampered = signed.model_copy(update={"record": signed.record.model_copy(update={"outcome": "rejected"})})
    with pytest.raises(VerificationError) as err:
        tampered.verify()
    assert err.value.check == "hash"


def test_a_signature_by_another_key_is_named():
    signed = sign(record(), KEY)
    other = sign(signed.record, secrets.token_bytes(32))
    forged = signed.model_copy(update={"signature": other.signature})
    with pytest.raises(VerificationError) as err:
        forged.verify()
    assert err.value.check == "signature"


def test_garbage_signature_is_a_verification_error():
    signed = sign(record(), KEY)
    with pytest.raises(VerificationError, match="does not parse"):
        signed.model_copy(update={"signature": "0x1234"}).verify()


def test_commitment_hides_the_case_and_needs_a_32_byte_salt():
    salt = new_salt()
    c = case_commitment("BR-1", salt)
    assert b"BR-1".hex() not in c and c != case_commitment("BR-1", new_salt())
    with pytest.raises(ChainValueError):
        case_commitment("BR-1", "0x1234")


def test_record_refuses_unknown_fields_and_bad_case():
    with pytest.raises(ValueError):
        record(extra_field=1)
    with pytest.raises(ValueError, match="64 hex digits"):
        record(case="BR-1")
