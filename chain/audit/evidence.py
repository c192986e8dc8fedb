"""The evidence bundle: everything an auditor needs to re-verify a case, offline or on-chain.

Records, signatures and anchor references (block, transaction, log index), the flow definition
the records name, the salt that opens the case commitment, and the operator's claim of which
signer and account each agency had (checked against the registry's events when online).

``proofs`` and ``checkpoints`` make it checkable offline without the operator: for each block a
handoff was anchored in, the block's header (RLP) and EIP-1186 proofs from its state root of the
ledger's entry for each handoff (or batch root) anchored there and of the registry's signer
entries of the agencies that anchored; and agencies' checkpoints cosigning those blocks' hashes
(``chain.audit.proven`` checks them; a bundle without them is unauthenticated under a trust root).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chain.anchors import Anchor
from chain.checkpoint import Checkpoint
from chain.handoff import CLOSING_STEP, SignedHandoff

FORMAT = "onevisit.evidence.v1"


class AgencyClaim(BaseModel):
    signer: str
    account: str


class ChainRef(BaseModel):
    chain_id: int
    registry: str
    ledger: str
    block: int = Field(description="block the contracts were deployed in")


class EvidenceItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    handoff: SignedHandoff
    anchor: Anchor | None = None


class BlockProof(BaseModel):
    """What proves the ledger's and the registry's state in one block, without the operator."""

    model_config = ConfigDict(extra="forbid")

    header: str = Field(description="the block header's RLP, hex: the auditor hashes it and reads its state root")
    ledger: dict[str, Any] = Field(description="eth_getProof of the HandoffLedger at the block, its anchor slots")
    registry: dict[str, Any] = Field(description="eth_getProof of the AgencyRegistry at the block, signer slots")


class EvidenceBundle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["onevisit.evidence.v1"] = FORMAT
    case_id: str
    salt: str
    commitment: str
    flow: dict[str, Any] = Field(description="the flow definition, as the engine ran it")
    chain: ChainRef
    agencies: dict[str, AgencyClaim]
    registry: list[dict[str, Any]] = Field(
        default_factory=list,
        description=(
            "the registry's events at export (who was whose account and signer from which block): replayed "
            "offline; online the chain's own events are used instead"
        ),
    )
    handoffs: list[EvidenceItem]
    proofs: list[BlockProof] = Field(default_factory=list, description="per anchor block: its header and state proofs")
    checkpoints: list[Checkpoint] = Field(
        default_factory=list, description="agencies' cosignatures of the proofs' blocks (one per agency)"
    )
    exported_at: str

    def step_policy(self) -> dict[str, tuple[str, list[str]]]:
        """step -> (owning agency, dependencies), from the flow definition; and the closing record's
        step, owned by the flow's lead agency (the one it names, else its first step's), depending on nothing."""
        steps = self.flow.get("steps", [])
        policy = {s["id"]: (s["agency"], list(s.get("depends_on", []))) for s in steps}
        if steps:
            lead = self.flow.get("lead")
            policy[CLOSING_STEP] = (lead if isinstance(lead, str) else steps[0]["agency"], [])
        return policy
