"""The payload codec: what Temporal stores is encrypted under the operator's data key."""

import pytest
from cryptography.fernet import Fernet
from temporalio.api.common.v1 import Payload

from workflows.codec import EncryptionCodec, data_converter

KEY = Fernet.generate_key().decode()


async def test_payloads_are_encrypted_and_come_back_whole():
    codec = EncryptionCodec(KEY)
    plain = data_converter(None).payload_converter.to_payloads([{"id_number": "370102198806151237"}])
    sealed = await codec.encode(plain)
    assert b"370102198806151237" not in sealed[0].SerializeToString()
    assert await codec.decode(sealed) == plain


async def test_another_data_key_is_refused():
    sealed = await EncryptionCodec(KEY).encode([Payload(data=b"x")])
    with pytest.raises(ValueError, match="another data key"):
        await EncryptionCodec(Fernet.generate_key().decode()).decode(sealed)


async def test_plain_payloads_from_a_client_without_the_key_are_refused():
    """Fail closed: whoever reaches the Temporal port with a plain data converter (to approve a
    step or withdraw a case behind the gateway's back) gets nothing decoded."""
    plain = data_converter(None).payload_converter.to_payloads([{"decision": "approve", "clerk_agency": "tax"}])
    with pytest.raises(ValueError, match="not encrypted under the data key"):
        await EncryptionCodec(KEY).decode(plain)


async def test_a_forged_payload_in_our_encoding_is_refused():
    good = (await EncryptionCodec(KEY).encode([Payload(data=b"x")]))[0]
    forged = Payload(metadata=dict(good.metadata), data=good.data[:-4] + b"AAAA")
    with pytest.raises(ValueError, match="does not decrypt"):
        await EncryptionCodec(KEY).decode([forged])


async def test_failure_messages_are_encrypted_too():
    """An agency's error or a refusal's reason in a failure is kept encrypted, and read back whole."""
    from temporalio.api.failure.v1 import Failure
    from temporalio.exceptions import ApplicationError

    converter = data_converter(KEY)
    failure = Failure()
    error = ApplicationError("legal representative 370102198806151237 is under 18", type="ResidentIdInvalid")
    await converter.encode_failure(error, failure)
    stored = failure.SerializeToString()
    assert b"370102198806151237" not in stored and failure.message == "Encoded failure"
    back = await converter.decode_failure(failure)
    assert isinstance(back, ApplicationError) and back.message == error.message and back.type == "ResidentIdInvalid"
