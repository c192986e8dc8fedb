"""The contract that crosses Temporal between the engine, the agencies and the gateway: the
names of the workflow, its query and updates and of every activity, the types a validator
refuses with, and one pydantic model per workflow, activity, update and query.

Callers name things through these constants, never by importing the engine: activities run on
the owning agency's task queue, and the gateway starts, queries and updates cases by name.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chain.anchors import Anchor
from chain.handoff import SignedHandoff
from workflows.authority import Authority
from workflows.flows import FlowDef

# An agency's activities act, sign, journal and anchor in one go: each returns an AnchoredHandoff.
PERFORM_STEP = "agency.perform_step"  # StepInput
UNDO_STEP = "agency.undo_step"  # CompensateInput
SIGN_ESCALATION = "agency.sign_escalation"  # EscalateInput
CLOSE_CASE = "agency.close_case"  # CloseInput: the lead agency signs and anchors the case's closing record
CLOSING_RECORD = "closing-record"  # the workflow.patched id: cases started before it end without one
# The engine's bookkeeping in the gateway's store (local activities of the engine's worker).
RECORD_HANDOFF = "engine.record_handoff"  # HandoffRecord: the handoff, its anchor and the status after it
RECORD_CASE = "engine.record_case"  # CaseStatus
# Cases started before one-activity steps (see ``ONE_ACTIVITY_STEPS``) sign with these, anchor with
# ANCHOR_HANDOFF, and record with RECORD_HANDOFF (no status) as ordinary activities on the engine queue.
EXECUTE_STEP = "agency.execute_step"  # StepInput -> SignedHandoff
COMPENSATE_STEP = "agency.compensate_step"  # CompensateInput -> SignedHandoff
ESCALATE_STEP = "agency.escalate_step"  # EscalateInput -> SignedHandoff
ANCHOR_HANDOFF = "agency.anchor_handoff"  # AnchorInput -> Anchor
ONE_ACTIVITY_STEPS = "one-activity-steps"  # the workflow.patched id of that shape
ENGINE_QUEUE = "onevisit-engine"

# The engine's generation a case starts with (``CaseInput.engine``; 0: a case started before
# generations, whose ``workflow.patched`` markers decide). 2: one activity per step and a closing
# record, without markers. 3: a step's agency sends its anchor and returns without waiting for the
# block, so the steps after it act at once; the engine confirms the case's anchors together
# (CONFIRM_ANCHORS) before the case returns to the applicant, is undone or closes.
ENGINE = 3
SUBMIT_STEP = "agency.submit_step"  # StepInput -> SentHandoff
CONFIRM_ANCHORS = "agency.confirm_anchors"  # ConfirmInput -> list[Confirmation] (any agency reads the ledger)
ANCHOR_SIGNED = "agency.anchor_signed"  # AnchorInput with its key -> AnchoredHandoff: anchor again, or sign again
CONFIRM_AND_CLOSE = "agency.confirm_and_close"  # CloseInput with what is sent -> Closed: a case's end in one go
RECORD_HANDOFFS = "engine.record_handoffs"  # HandoffBatch: confirmed handoffs and the status after them
PARENT_NOT_ON_LEDGER = "ParentNotOnLedger"  # a parent's anchor is neither pending nor mined: confirm it first

CASE_WORKFLOW = "CaseWorkflow"
STATUS_QUERY = "status"  # -> CaseStatus
DECIDE_UPDATE = "decide"  # Decision -> UpdateResult
CORRECT_UPDATE = "correct"  # Correction -> UpdateResult
WITHDRAW_UPDATE = "withdraw"  # Withdrawal -> UpdateResult


class Refusal(StrEnum):
    """Why an update's validator refused it (the ``ApplicationError`` type); nothing was written."""

    NO_SUCH_STEP = "NoSuchStep"
    NOT_YOUR_STEP = "NotYourStep"
    NOT_AWAITING = "NotAwaiting"
    REASON_REQUIRED = "ReasonRequired"
    NOT_RETURNED = "NotReturned"
    NOT_WITHDRAWABLE = "NotWithdrawable"
    NOT_APPLICANT = "NotApplicant"
    CHANGES_JUDGED = "CorrectionChangesJudged"  # a correction would change what a completed step judged
    NO_AUTHORITY = "NoGatewayAuthority"  # unsigned, forged, expired, replayed, or by a key the engine does not trust


StepState = Literal[
    "waiting", "awaiting_decision", "running", "completed", "rejected", "failed", "skipped", "cancelled", "compensated"
]
CaseState = Literal["running", "returned", "completed", "rejected", "failed", "withdrawn"]


class Queues(BaseModel):
    """Where the engine sends work: its own queue and the agencies' queue prefix."""

    model_config = ConfigDict(frozen=True)

    engine: str = ENGINE_QUEUE
    agency_prefix: str = "agency-"


class CaseInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    applicant: str
    flow: FlowDef
    application: dict[str, Any]
    commitment: str
    queues: Queues = Queues()
    engine: int = 0  # the generation it runs under, for good (see ENGINE); absent in older histories


class StepInput(BaseModel):
    """What an agency needs to act on one step; ``key`` makes the action idempotent.

    ``decision`` is "perform" (act, by rule or on a clerk's approval) or "reject" (a clerk
    refused: the agency signs a rejection with ``reason`` and does not act)."""

    model_config = ConfigDict(frozen=True)

    key: str
    case_id: str
    flow: str
    flow_version: str
    rules_version: str
    step: str
    agency: str
    commitment: str
    application: dict[str, Any]
    parents: list[SignedHandoff]
    attempt: int = 1
    decided_by: str
    decision: Literal["perform", "reject"] = "perform"
    reason: str | None = None
    reason_commitment: str | None = None  # a clerk's reason as a salted commitment (the gateway keeps the text)
    parent_txs: dict[str, str] = Field(
        default={}, description="parent handoff -> its anchor's transaction, for parents not yet confirmed"
    )


class CompensateInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    case_id: str
    action: str
    handoff: SignedHandoff = Field(description="the completed handoff being undone")
    application: dict[str, Any]
    reason: str | None = None  # in the clear: withdrawals from before reasons were committed
    reason_commitment: str | None = None


class EscalateInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    step: StepInput
    sla_minutes: int
    since: str


class CloseInput(BaseModel):
    """The end of a case's trail: its final state and every handoff in it, for the lead agency to sign."""

    model_config = ConfigDict(frozen=True)

    key: str
    case_id: str
    flow: str
    flow_version: str
    agency: str
    commitment: str
    state: str
    trail: list[str] = Field(description="the hash of every handoff of the case, in the order they were recorded")
    sent: list[AnchorSent] = Field(default=[], description="anchors to confirm first (CONFIRM_AND_CLOSE)")


class AnchorInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    flow: str
    step: str
    handoff: SignedHandoff
    key: str | None = None  # its journal entry: it vouches for a handoff signed by a key since retired


class AnchoredHandoff(BaseModel):
    """What an agency's activity returns: the handoff it signed and where the ledger anchored it."""

    model_config = ConfigDict(frozen=True)

    handoff: SignedHandoff
    anchor: Anchor


class SentHandoff(BaseModel):
    """What SUBMIT_STEP returns: the handoff signed and journalled under ``key``, and its anchor's
    transaction, taken into the ledger's pool but not yet confirmed (or its anchor, when the agency
    anchors in batches or found it anchored already)."""

    model_config = ConfigDict(frozen=True)

    handoff: SignedHandoff
    key: str
    tx: str | None = None
    anchor: Anchor | None = None


class AnchorSent(BaseModel):
    """What confirming a sent anchor needs, and no more of the handoff (the confirming agency
    sees no other agency's outputs): its hash, agency and signer, the transaction or the anchor."""

    model_config = ConfigDict(frozen=True)

    handoff: str
    agency: str
    signer: str
    tx: str | None = None
    anchor: Anchor | None = None

    @classmethod
    def of(cls, sent: SentHandoff) -> AnchorSent:
        h = sent.handoff
        return cls(handoff=h.hash, agency=h.record.agency, signer=h.signer, tx=sent.tx, anchor=sent.anchor)


class ConfirmInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    sent: list[AnchorSent]


class Confirmation(BaseModel):
    """One sent handoff's anchor once mined, with what is wrong with it, if anything: ``lost`` (the
    ledger holds neither its transaction nor an anchor: its agency anchors it again), ``resign``
    (the registry did not accept its signer in the anchor's block: its agency signs it again) or
    ``refused`` (the contract reverted it, ``detail`` says why)."""

    model_config = ConfigDict(frozen=True)

    handoff: str
    anchor: Anchor | None = None
    problem: Literal["lost", "resign", "refused"] | None = None
    detail: str = ""


# ------------------------------------------------------------------------------ updates
# Identity is set by the gateway, which signs each update (``authority``, see workflows.authority);
# the engine's validators refuse one it did not sign. (None only in histories from before.)
# Free text (a clerk's reason, a withdrawal's) travels as ``reason_commitment``, the salted hash of
# chain.handoff.text_commitment: the gateway keeps the text and salt under the case's key, so the
# trail, Temporal's history and the agencies' journals hold no text that an erasure could not reach.
# Case statuses name such a reason by ``reason_token``, which the gateway shows as the text.
def reason_token(commitment: str) -> str:
    return f"[reason:{commitment}]"


class Decision(BaseModel):
    """A clerk's decision on the step their agency holds."""

    step: str
    approve: bool
    reason: str | None = None  # in the clear: decisions from before reasons were committed
    reason_commitment: str | None = None
    clerk: str
    clerk_agency: str
    authority: Authority | None = None


class Correction(BaseModel):
    applicant: str
    application: dict[str, Any]
    authority: Authority | None = None


class Withdrawal(BaseModel):
    applicant: str
    reason: str | None = None  # in the clear: withdrawals from before reasons were committed
    reason_commitment: str | None = None
    authority: Authority | None = None


class UpdateResult(BaseModel):
    case_id: str
    accepted: bool = True
    detail: str


# ------------------------------------------------------------------------------- status
class CaseEvent(BaseModel):
    time: str
    kind: Literal["escalated", "decided", "returned", "corrected", "withdrawn", "failed"]
    step: str | None = None
    detail: str


class StepStatus(BaseModel):
    step: str
    title: str
    agency: str
    state: StepState = "waiting"
    attempt: int = 1
    since: str | None = None
    deadline: str | None = None
    sla_minutes: int
    escalated: bool = False
    review_reasons: list[str] = []
    decided_by: str | None = None
    handoff: str | None = None
    anchor_block: int | None = None
    reason: str | None = None


class CaseStatus(BaseModel):
    case_id: str
    flow: str
    flow_version: str
    state: CaseState = "running"
    steps: list[StepStatus]
    result: dict[str, Any] = {}
    reason: str | None = None
    events: list[CaseEvent] = []
    revision: int = 0
    closing: str | None = None  # the hash of the closing record, once the case's trail is closed


class HandoffRecord(BaseModel):
    """A handoff and its anchor for the store, with the case's status once the step took it in."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    handoff: SignedHandoff
    anchor: Anchor
    status: CaseStatus | None = None  # None from cases started before one-activity steps


class Closed(BaseModel):
    """What CONFIRM_AND_CLOSE returns: the confirmations of what was sent, and the closing record
    anchored, unless a confirmation found something wrong (then nothing is signed: the engine puts
    it right and asks again)."""

    model_config = ConfigDict(frozen=True)

    confirmations: list[Confirmation] = []
    closing: AnchoredHandoff | None = None


class HandoffBatch(BaseModel):
    """Handoffs confirmed together (RECORD_HANDOFFS), with the case's status after them."""

    model_config = ConfigDict(frozen=True)

    case_id: str
    anchored: list[AnchoredHandoff]
    status: CaseStatus | None = None  # None: the status waits (it would show the case ended before its closing)
