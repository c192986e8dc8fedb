"""An agency's key material: the key that signs its handoffs and the key of its ledger account.

Kept apart on purpose: a signing key can rotate without moving the ledger account and vice
versa, and both rotations are registry events the auditor replays.
"""

from __future__ import annotations

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

    @property
    def signer(self) -> str:
        return address_of(self.signing_key)

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
                },
                f,
                indent=2,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> AgencyKeys:
        data = json.loads(Path(path).read_text())
        return cls(data["agency"], bytes.fromhex(data["signing_key"]), bytes.fromhex(data["account_key"]))
