"""An agency's key material: the key that signs its handoffs and the key of its ledger account.

Kept apart on purpose: a signing key can rotate without moving the ledger account and vice
versa, and both rotations are registry events the auditor replays. A signing-key rotation is
two-phase (the registry accepts the old key until the new one's effective block), so the file
keeps the keys it replaced as ``retired``, newest first: its worker still knows (and may sign
with) them while the registry does.

The file also holds the agency's ``payload_key``: the only key its worker has for Temporal's
payloads (``workflows.codec``), opening its own activities' inputs and nothing else. The operator
derives it from the data key and writes it here (``onevisit keygen agency``, ``onevisit up``);
the worker never holds the data key.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from eth_keys import keys


def address_of(private_key: bytes) -> str:
    """The checksummed Ethereum address of a secp256k1 private key."""
    return keys.PrivateKey(private_key).public_key.to_checksum_address()


@dataclass(frozen=True)
class AgencyKeys:
    agency: str
    signing_key: bytes
    account_key: bytes
    retired: tuple[bytes, ...] = ()  # signing keys it replaced, newest first
    payload_key: bytes | None = None  # its Temporal payloads' key (workflows.codec.payload_key)

    @property
    def signer(self) -> str:
        return address_of(self.signing_key)

    @property
    def signing_keys(self) -> dict[str, bytes]:
        """Every signing key it holds by its lower-case address, the newest first."""
        return {address_of(k).lower(): k for k in (self.signing_key, *self.retired)}

    def rotated(self, new_signing_key: bytes) -> AgencyKeys:
        """These keys with ``new_signing_key`` signing and the current one retired."""
        return dataclasses.replace(self, signing_key=new_signing_key, retired=(self.signing_key, *self.retired))

    @property
    def account(self) -> str:
        return address_of(self.account_key)

    @classmethod
    def generate(cls, agency: str) -> AgencyKeys:
        return cls(agency, secrets.token_bytes(32), secrets.token_bytes(32))

    def save(self, path: Path) -> None:
        """Write the keys readable by the owner only (0600), atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(
                {
                    "agency": self.agency,
                    "signing_key": self.signing_key.hex(),
                    "account_key": self.account_key.hex(),
                    "signer": self.signer,
                    "account": self.account,
                    **({"payload_key": self.payload_key.hex()} if self.payload_key else {}),
                    **(
                        {
                            "retired_signing_keys": [k.hex() for k in self.retired],
                            "retired_signers": [address_of(k) for k in self.retired],
                        }
                        if self.retired
                        else {}
                    ),
                },
                f,
                indent=2,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> AgencyKeys:
        data = json.loads(Path(path).read_text())
        retired = tuple(bytes.fromhex(k) for k in data.get("retired_signing_keys", []))
        payload_key = bytes.fromhex(data["payload_key"]) if data.get("payload_key") else None
        return cls(
            data["agency"], bytes.fromhex(data["signing_key"]), bytes.fromhex(data["account_key"]), retired, payload_key
        )
