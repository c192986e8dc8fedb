"""Encrypt every Temporal payload (case inputs, applications, results) before it leaves the
process, so the Temporal server's history at rest holds no personal data in the clear.

Fernet (AES-128-CBC with HMAC-SHA256) under the operator's data key, as the gateway's store uses.
It fails closed: a payload that is not encrypted under this key is refused, so a client that
reaches the Temporal port without the key cannot start cases, decide or withdraw (Fernet's HMAC
also refuses anything forged). Pure computation: safe for workers, clients and replayers alike.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

ENCODING = b"binary/onevisit-fernet"


class EncryptionCodec(PayloadCodec):
    def __init__(self, data_key: str):
        self._fernet = Fernet(data_key.encode())
        self._key_id = hashlib.sha256(data_key.encode()).hexdigest()[:16].encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [
            Payload(
                metadata={"encoding": ENCODING, "encryption-key-id": self._key_id},
                data=self._fernet.encrypt(p.SerializeToString()),
            )
            for p in payloads
        ]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding") != ENCODING:
                raise ValueError(
                    "refused a payload that is not encrypted under the data key "
                    f"(encoding {p.metadata.get('encoding', b'').decode(errors='replace')!r})"
                )
            if p.metadata.get("encryption-key-id") != self._key_id:
                raise ValueError("payload was encrypted under another data key (ONEVISIT_DATA_KEY differs)")
            try:
                plain = Payload()
                plain.ParseFromString(self._fernet.decrypt(p.data))
            except InvalidToken as exc:
                raise ValueError("payload does not decrypt under this data key") from exc
            out.append(plain)
        return out


def data_converter(data_key: str | None) -> DataConverter:
    """Pydantic payloads, encrypted when a data key is given; failures too (their message and stack
    trace move into an encoded attribute, so a refusal's reason or an agency's error text is not
    kept in Temporal's history in the clear)."""
    if data_key is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(data_key),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
