"""The gateway's authority over what it asks of a case: decisions, corrections, withdrawals.

The identity fields of an update (``clerk_agency``, ``applicant``) are the gateway's word, set
after it checked a token. Anyone else who reaches Temporal with the data key (an agency worker's
host, say) could send the same fields, so the gateway signs every update it sends with its own
Ed25519 key, and the engine's update validators refuse an update without a valid signature by a
key the engine trusts (the keyring in ``ONEVISIT_GATEWAY_KEYS``, public keys only).

What is signed: RFC 8785 JSON of the domain, the case id, the update's name, the update's body,
a random nonce and an expiry. A signature is good for one case, one kind of update, that body,
and ten minutes; the workflow remembers the nonces it accepted, so no signed update is taken
twice. Pure computation: safe in workflow code (validators run only for new updates, never in
replay, so the keyring may change between deployments without breaking a history).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict

DOMAIN = "onevisit/gateway-update/v1"
VALID_FOR = timedelta(minutes=10)


class Authority(BaseModel):
    """The gateway's signature over one update (hex), by the key ``key_id`` names."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    nonce: str
    expires: str  # ISO 8601, UTC
    signature: str


class AuthorityError(Exception):
    """An update the engine must refuse: unsigned, forged, expired, or by a key it does not trust."""


def key_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(public.public_bytes_raw()).hexdigest()[:16]


def signed_bytes(case_id: str, update: str, body: dict[str, Any], nonce: str, expires: str) -> bytes:
    return rfc8785.dumps(
        {"domain": DOMAIN, "case_id": case_id, "update": update, "body": body, "nonce": nonce, "expires": expires}
    )


def _body(message: BaseModel) -> dict[str, Any]:
    return message.model_dump(mode="json", exclude={"authority"})


class GatewaySigner:
    def __init__(self, private: Ed25519PrivateKey):
        self._key = private
        self.key_id = key_id(private.public_key())

    @classmethod
    def load(cls, path: Path) -> GatewaySigner:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} does not hold an Ed25519 private key")
        return cls(key)

    def public_hex(self) -> str:
        return self._key.public_key().public_bytes_raw().hex()

    def sign(
        self, case_id: str, update: str, message: BaseModel, now: datetime, valid_for: timedelta = VALID_FOR
    ) -> Authority:
        nonce, expires = secrets.token_hex(16), (now + valid_for).isoformat()
        signature = self._key.sign(signed_bytes(case_id, update, _body(message), nonce, expires))
        return Authority(key_id=self.key_id, nonce=nonce, expires=expires, signature=signature.hex())


class Keyring:
    """The gateway public keys the engine trusts (a rotation adds the new one before the gateway
    uses it, and removes the old one once no update signed with it can still arrive)."""

    def __init__(self, public_hex: list[str]):
        self._keys = {}
        for value in public_hex:
            public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(value))
            self._keys[key_id(public)] = public

    @classmethod
    def load(cls, path: Path) -> Keyring:
        doc = json.loads(Path(path).read_text())
        if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or not doc["keys"]:
            raise ValueError(f'{path}: expected {{"keys": ["<Ed25519 public key, hex>", ...]}}')
        return cls([str(k) for k in doc["keys"]])

    def check(self, case_id: str, update: str, message: BaseModel, now: datetime, used: set[str]) -> None:
        authority: Authority | None = getattr(message, "authority", None)
        if authority is None:
            raise AuthorityError("the update carries no gateway signature")
        public = self._keys.get(authority.key_id)
        if public is None:
            raise AuthorityError(f"the update is signed by key {authority.key_id}, which the engine does not trust")
        try:
            public.verify(
                bytes.fromhex(authority.signature),
                signed_bytes(case_id, update, _body(message), authority.nonce, authority.expires),
            )
        except (InvalidSignature, ValueError) as exc:
            raise AuthorityError("the gateway signature does not match this case and update") from exc
        if datetime.fromisoformat(authority.expires) < now:
            raise AuthorityError(f"the gateway signature expired at {authority.expires}")
        if authority.nonce in used:
            raise AuthorityError("this signed update was already taken once")


_trusted: Keyring | None = None


def trust(keyring: Keyring | None) -> None:
    """Set by the engine worker at start (from ONEVISIT_GATEWAY_KEYS): the keys its validators trust."""
    global _trusted
    _trusted = keyring


def check(case_id: str, update: str, message: BaseModel, now: datetime, used: set[str]) -> None:
    """Raise AuthorityError unless ``message`` is signed for this case and update by a trusted key.
    Fails closed: an engine that trusts no key takes no update."""
    if _trusted is None:
        raise AuthorityError("the engine trusts no gateway key (ONEVISIT_GATEWAY_KEYS is not loaded)")
    _trusted.check(case_id, update, message, now, used)


def new_gateway_key(private_path: Path, keyring_path: Path) -> GatewaySigner:
    """A fresh gateway key: the private half to ``private_path`` (0600), its public half added to
    the keyring at ``keyring_path`` (kept: the keys already there stay trusted)."""
    key = Ed25519PrivateKey.generate()
    private_path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    signer = GatewaySigner(key)
    keys = json.loads(keyring_path.read_text())["keys"] if keyring_path.exists() else []
    keyring_path.write_text(json.dumps({"keys": [*keys, signer.public_hex()]}, indent=2) + "\n")
    return signer
