"""The payload codec: what Temporal stores is encrypted under the operator's data key."""

import pytest
from cryptography.fernet import Fernet
from temporalio.api.common.v1 import Payload

from workflows.codec import EncryptionCodec, data_converter

KEY = Fernet.generate_key().decode()


async def test_payloads_are_encrypted_and_come_back_whole():
    codec = EncryptionCodec(KEY)
    plain = data_converter(None).payload_converter.to_payloads(
        [{"id_number": "370102198806151237"}])
    sealed = await codec.encode(plain)
    assert b"370102198806151237" not in sealed[0].SerializeToString()
    assert await codec.decode(sealed) == plain


async def test_another_data_key_is_refused_and_old_plain_payloads_pass():
    sealed = await EncryptionCodec(KEY).encode([Payload(data=b"x")])
    with pytest.raises(ValueError, match="another data key"):
        await EncryptionCodec(Fernet.generate_key().decode()).decode(sealed)
    old = [Payload(metadata={"encoding": b"json/plain"}, data=b'"hello"')]
    assert await EncryptionCodec(KEY).decode(old) == old
