"""What the ledger records, as plain data: where the contracts live and the events that anchor
handoffs, singly (``HandoffAnchored``) or in Merkle batches (``BatchAnchored``); an agency's
``SignerSchedule`` (which keys sign for it at which block); and ``Anchorer``, the one thing an
agency asks of whatever anchors its handoffs.

Data and types only, so that the engine, the gateway and the auditor can carry anchors without
importing web3: ``chain.client`` reads these from the chain, ``chain.batch`` builds a batched
handoff's Anchor from its batch's event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

from pydantic import BaseModel, model_serializer


@dataclass(frozen=True)
class Deployment:
    """Where the contracts live; written once at deployment, read by every client."""

    chain_id: int
    registry: str
    ledger: str
    block: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class LogRef(BaseModel):
    """Where an event stands on the chain, and who sent the transaction that logged it."""

    account: str
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int
    timestamp: int


class Anchor(LogRef):
    """One HandoffAnchored event, as the chain tells it; or, for a handoff anchored inside a
    Merkle batch, the batch's BatchAnchored event (account, agency, tx, block, log) with the
    handoff's own hash, step and case, its leaf index, the batch size and its inclusion proof
    (hex, leaf to root; see chain.merkle). A single anchor serialises without the batch fields."""

    handoff: str
    agency: str
    case_commitment: str
    step: str
    batch_root: str | None = None
    leaf_index: int | None = None
    batch_size: int | None = None
    proof: list[str] | None = None

    @model_serializer(mode="wrap")
    def _without_empty_batch_fields(self, handler):
        data = handler(self)
        if self.batch_root is None:
            for k in BATCH_FIELDS:
                if data.get(k) is None:
                    data.pop(k, None)
        return data

    @property
    def batched(self) -> bool:
        return self.batch_root is not None


BATCH_FIELDS = ("batch_root", "leaf_index", "batch_size", "proof")


class BatchAnchor(LogRef):
    """One BatchAnchored event: a Merkle root over ``count`` handoffs of one agency."""

    root: str
    agency: str
    count: int


@dataclass(frozen=True)
class SignerSchedule:
    """An agency's signing keys as the registry holds them at some block: the signer as last set
    and, during a two-phase rotation, the one scheduled to replace it from ``next_from``. From the
    rotation's block until ``next_from`` both sign; from ``next_from`` on only the new one."""

    signer: str
    next_signer: str | None = None
    next_from: int = 0

    def in_force_at(self, block: int) -> str:
        """The key that alone signs from ``block`` on, unless another rotation is scheduled."""
        return self.next_signer if self.next_signer and block >= self.next_from else self.signer

    def accepted_at(self, block: int) -> set[str]:
        """The keys (lower-case addresses) whose signature an anchor in ``block`` may carry; for a
        block no earlier than the one this schedule was read at."""
        if self.next_signer and block < self.next_from:
            return {self.signer.lower(), self.next_signer.lower()}
        return {self.in_force_at(block).lower()}


class SignerRegistry(Protocol):
    """Where an agency worker reads its signing keys' schedule (``chain.client.LedgerClient``)."""

    def signer_schedule(self, agency: str, block: int | None = None) -> tuple[int, SignerSchedule]:
        """(the block read at: ``block``, else the head; the agency's schedule there)."""

    def signer_changed(self, agency: str, after_block: int, through_block: int) -> bool:
        """Whether the agency's schedule changed in blocks (after_block, through_block]."""
        ...

    def signer_rotations(self, after_block: int, through_block: int) -> set[tuple[str, int]]:
        """(agency id, block) of every agency's schedule change in blocks (after_block, through_block]."""
        ...


class Anchorer(Protocol):
    """Anchors an agency's handoffs from its account: ``chain.client.Sender`` sends one
    transaction per handoff, ``chain.batcher.AnchorBatcher`` one per Merkle batch."""

    def anchor(self, handoff_hash: str, flow: str, step: str, case_commitment: str) -> Anchor:
        """Anchor the handoff exactly once (a retry returns the anchor already made) and return
        its Anchor once mined."""
        ...

    def close(self) -> None:
        """Finish what was handed over, then stop; called once, when the agency's worker stops."""
        ...


__all__ = [
    "BATCH_FIELDS",
    "Anchor",
    "Anchorer",
    "BatchAnchor",
    "Deployment",
    "LogRef",
    "SignerRegistry",
    "SignerSchedule",
]
