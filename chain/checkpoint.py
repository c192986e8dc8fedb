"""Checkpoints: an agency's signature that, on chain ``chain_id``, each listed block number has the
listed hash, as its own ledger node shows it (a witness's cosignature, TRUST-NOTES.md "Witness
cosigning"). One signature may vouch for several blocks: an agency asked to cosign the blocks a
case was anchored in reads each on its own node and signs them all at once, so that an auditor
recovers one signature per agency per bundle, not one per block.

The auditor's trust root names the agencies' checkpoint keys and how many must cosign
(``chain.audit.trust.AgencyCheckpoints``); a quorum of them over a block's hash makes that
block's header, and so its state root, trusted without the operator. The digest is keccak over a
domain tag, the chain id and each block's number and hash (32 bytes each, in increasing order):
it cannot be taken for a handoff's signature (whose tag differs), or for other blocks or chains.
"""

from __future__ import annotations

import coincurve
from eth_keys import keys
from eth_keys.constants import SECPK1_N
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chain.errors import ChainValueError, VerificationError
from chain.handoff import recover_signer
from chain.hexid import bytes32, from_hex, to_hex
from chain.merkle import keccak

DOMAIN = b"onevisit.checkpoint.v1\x00"
MAX_BLOCKS = 4096  # a case's anchors lie in a few blocks; this bounds a hostile checkpoint


class BlockRef(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=0, lt=2**256)
    hash: str

    @field_validator("hash")
    @classmethod
    def _hash32(cls, v: str) -> str:
        bytes32(v, "block hash")
        return v.lower()


class Checkpoint(BaseModel):
    """One agency's cosignature of some blocks (65-byte r||s||v signature, hex)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chain_id: int = Field(gt=0, lt=2**256)
    blocks: list[BlockRef] = Field(min_length=1, max_length=MAX_BLOCKS)
    signer: str
    signature: str

    @field_validator("blocks")
    @classmethod
    def _increasing(cls, v: list[BlockRef]) -> list[BlockRef]:
        if any(a.number >= b.number for a, b in zip(v, v[1:], strict=False)):
            raise ValueError("blocks must be listed once each, in increasing order")
        return v

    def digest(self) -> bytes:
        return checkpoint_digest(self.chain_id, [(b.number, b.hash) for b in self.blocks])

    def recovered(self) -> str:
        """The address whose key made the signature (VerificationError "checkpoint" if none does)."""
        try:
            return recover_signer(to_hex(self.digest()), self.signature)
        except (VerificationError, ChainValueError) as exc:
            raise VerificationError("checkpoint", f"a checkpoint does not recover: {exc}") from exc

    def recovered_address(self, digest: bytes | None = None) -> str:
        """``recovered()`` in lower case, for an auditor's hot path: the same signatures recover
        (65 bytes r||s||v, v 0 or 1, r and s below the curve order; libsecp256k1 through coincurve),
        without the checksum. ``digest``: this checkpoint's ``digest()`` if the caller has it (the
        same blocks cosigned by each agency hash to the same digest)."""
        try:
            sig = from_hex(self.signature, "the signature")
            if len(sig) != 65 or sig[64] > 1:
                raise ValueError("a signature is 65 bytes r||s||v with v 0 or 1")
            if int.from_bytes(sig[:32], "big") >= SECPK1_N or int.from_bytes(sig[32:64], "big") >= SECPK1_N:
                raise ValueError("r or s is not below the curve order")
            public = coincurve.PublicKey.from_signature_and_message(
                sig, self.digest() if digest is None else digest, hasher=None
            )
            return "0x" + keccak(public.format(compressed=False)[1:])[-20:].hex()
        except (ValueError, ChainValueError) as exc:
            raise VerificationError("checkpoint", f"a checkpoint does not recover: {exc}") from exc


def checkpoint_digest(chain_id: int, blocks: list[tuple[int, str]]) -> bytes:
    parts = [DOMAIN, chain_id.to_bytes(32, "big")]
    for number, block_hash in blocks:
        parts += [number.to_bytes(32, "big"), bytes32(block_hash, "block hash")]
    return keccak(b"".join(parts))


def sign_checkpoint(chain_id: int, blocks: list[tuple[int, str]], private_key: bytes) -> Checkpoint:
    """The agency's cosignature of ``blocks`` ((number, hash), any order; the caller has read each
    on its own node)."""
    refs = [BlockRef(number=n, hash=h) for n, h in sorted(set((n, h.lower()) for n, h in blocks))]
    key = keys.PrivateKey(private_key)
    signature = key.sign_msg_hash(checkpoint_digest(chain_id, [(b.number, b.hash) for b in refs]))
    return Checkpoint(
        chain_id=chain_id,
        blocks=refs,
        signer=key.public_key.to_checksum_address(),
        signature=to_hex(signature.to_bytes()),
    )


__all__ = ["DOMAIN", "BlockRef", "Checkpoint", "checkpoint_digest", "sign_checkpoint"]
