"""Encrypt every Temporal payload (case inputs, applications, results, failures) before it leaves the
process, so the Temporal server's history at rest holds no personal data in the clear, and so that
an agency's worker opens only what is addressed to it.

Each payload is sealed (AES-256-GCM, a fresh nonce each time) for one recipient, under a key that
HKDF-SHA256 derives from the operator's data key (ONEVISIT_DATA_KEY) and the recipient's name:

- an activity's input for agency X (its task queue ``agency-X``), and X's results and failures: ``agency:X``;
- everything else (the application a case starts with, updates, signals, queries, the engine's own
  activities, the case's result): ``operator``.

The operator's side (the engine's worker, the gateway, the auditors' decoder) holds the data key
and so derives every key; an agency's worker holds only its own (``payload_key`` in its key file,
``onevisit keygen agency``), so it cannot read the application, another agency's inputs or the
rest of a history. The recipient is bound into the seal (the GCM's associated data), so a payload
sealed for A and relabelled for B does not open. Temporal names the recipient through the
serialization context: the engine's worker encodes an activity's input knowing the activity's
task queue.

It fails closed: a payload that is not sealed under these keys is refused, so a client that
reaches the Temporal port without a key cannot start cases, decide or withdraw. With a workflow's
context (a case's input, an update, a signal) the operator takes only what is sealed for the
operator, so an agency cannot forge one with its own key either; with an activity's context, only
the operator's or that activity's agency's. Payloads an older version stored (Fernet under the data
key itself) are still read by the operator. Pure computation: safe for workers, clients and
replayers alike.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import hashlib
import os
from collections.abc import Sequence
from functools import cache

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

SEALED = b"binary/onevisit-sealed"
LEGACY = b"binary/onevisit-fernet"  # the whole payload under the data key (read, never written)
OPERATOR = "operator"
AGENCY_QUEUE_PREFIX = "agency-"  # workflows.flows.agency_queue


def agency_recipient(agency: str) -> str:
    return f"agency:{agency}"


def recipient_of(context: SerializationContext | None) -> str:
    """Who may open a payload in ``context``: an activity's agency for an activity on an agency's
    task queue, else the operator."""
    if isinstance(context, ActivitySerializationContext) and not context.is_local:
        queue = context.activity_task_queue or ""
        if queue.startswith(AGENCY_QUEUE_PREFIX):
            return agency_recipient(queue.removeprefix(AGENCY_QUEUE_PREFIX))
    return OPERATOR


@cache
def payload_key(data_key: str, recipient: str) -> bytes:
    """The AES-256 key of ``recipient``'s payloads, derived from the operator's data key."""
    hkdf = HKDF(hashes.SHA256(), 32, salt=None, info=b"onevisit/temporal-payloads/v1/" + recipient.encode())
    return hkdf.derive(base64.urlsafe_b64decode(data_key.encode()))


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).hexdigest()[:16].encode()


def _aad(recipient: str) -> bytes:
    return SEALED + b"\n" + recipient.encode()


def seal(payload: Payload, recipient: str, key: bytes) -> Payload:
    nonce = os.urandom(12)
    return Payload(
        metadata={"encoding": SEALED, "encryption-key-id": _key_id(key), "recipient": recipient.encode()},
        data=nonce + AESGCM(key).encrypt(nonce, payload.SerializeToString(), _aad(recipient)),
    )


def recipient_named(payload: Payload) -> str:
    """The recipient a sealed payload names (unauthenticated until it opens)."""
    if payload.metadata.get("encoding") != SEALED:
        raise ValueError(
            "refused a payload that is not encrypted under the data key nor an agency's payload key "
            f"(encoding {payload.metadata.get('encoding', b'').decode(errors='replace')!r})"
        )
    return payload.metadata.get("recipient", b"").decode(errors="replace")


def open_sealed(payload: Payload, recipient: str, key: bytes) -> Payload:
    if payload.metadata.get("encryption-key-id") != _key_id(key):
        raise ValueError(f"payload for {recipient} was sealed under another key (ONEVISIT_DATA_KEY differs)")
    try:
        data = payload.data
        plain = Payload()
        plain.ParseFromString(AESGCM(key).decrypt(data[:12], data[12:], _aad(recipient)))
    except (InvalidTag, ValueError) as exc:
        raise ValueError(f"payload does not open as one sealed for {recipient}") from exc
    return plain


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """The operator's codec: it holds the data key, so it seals for anyone and opens everything
    (within what the context allows: see the module's docstring). Without a context (the auditors'
    decoder) it opens whatever is sealed under the data key."""

    def __init__(self, data_key: str, context: SerializationContext | None = None):
        self._data_key = data_key
        self._context = context
        self._fernet = Fernet(data_key.encode())
        self._legacy_id = hashlib.sha256(data_key.encode()).hexdigest()[:16].encode()

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        """The same codec in ``context`` (asked for every payload a worker handles: the keys are
        shared, not made again)."""
        codec = copy.copy(self)
        codec._context = context
        return codec

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        recipient = recipient_of(self._context)
        key = payload_key(self._data_key, recipient)
        return [seal(p, recipient, key) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decode(p) for p in payloads]

    def _decode(self, p: Payload) -> Payload:
        if p.metadata.get("encoding") == LEGACY:
            return self._decode_legacy(p)
        recipient = recipient_named(p)
        if recipient != OPERATOR:
            if not recipient.startswith(agency_recipient("")):
                raise ValueError(f"refused a payload sealed for an unknown recipient {recipient!r}")
            if isinstance(self._context, WorkflowSerializationContext):
                raise ValueError(f"refused a payload sealed for {recipient} where only the operator's is taken")
            expected = recipient_of(self._context)
            if isinstance(self._context, ActivitySerializationContext) and recipient != expected:
                raise ValueError(f"refused a payload sealed for {recipient} in an activity of {expected}")
        return open_sealed(p, recipient, payload_key(self._data_key, recipient))

    def _decode_legacy(self, p: Payload) -> Payload:
        if p.metadata.get("encryption-key-id") != self._legacy_id:
            raise ValueError("payload was encrypted under another data key (ONEVISIT_DATA_KEY differs)")
        try:
            plain = Payload()
            plain.ParseFromString(self._fernet.decrypt(p.data))
        except InvalidToken as exc:
            raise ValueError("payload does not decrypt under this data key") from exc
        return plain


class AgencyCodec(PayloadCodec):
    """An agency worker's codec: it holds only its own payload key, opens only what is sealed for
    it (its activities' inputs) and seals what it sends back (results, failures, heartbeats) under
    the same key, which the operator derives."""

    def __init__(self, agency: str, key: bytes):
        self._recipient = agency_recipient(agency)
        self._key = key

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [seal(p, self._recipient, self._key) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            recipient = recipient_named(p)
            if recipient != self._recipient:
                raise ValueError(f"refused a payload sealed for {recipient or 'nobody'}: this is {self._recipient}")
            out.append(open_sealed(p, recipient, self._key))
        return out


def _with_codec(codec: PayloadCodec) -> DataConverter:
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


def data_converter(data_key: str | None) -> DataConverter:
    """The operator's converter: pydantic payloads, sealed when a data key is given; failures too
    (their message and stack trace move into an encoded attribute, so a refusal's reason or an
    agency's error text is not kept in Temporal's history in the clear)."""
    if data_key is None:
        return pydantic_data_converter
    return _with_codec(EncryptionCodec(data_key))


def agency_data_converter(agency: str, key: bytes) -> DataConverter:
    """An agency worker's converter: its own payload key only (``AgencyKeys.payload_key``)."""
    return _with_codec(AgencyCodec(agency, key))
