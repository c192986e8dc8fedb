"""The typed inputs and outputs that cross Temporal between the engine and the agencies.

One pydantic model per workflow and activity (serialised by ``pydantic_data_converter``).
Activities are called by name on the owning agency's task queue; these names are the contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chain.handoff import SignedHandoff
from chain.ledger import Anchor
from workflows.flows import FlowDef

EXECUTE_STEP = "agency.execute_step"
ANCHOR_HANDOFF = "agency.anchor_handoff"
RECORD_HANDOFF = "engine.record_handoff"
RECORD_CASE = "engine.record_case"
ENGINE_QUEUE = "onevisit-engine"

StepState = Literal["waiting", "running", "completed", "rejected", "failed"]
CaseState = Literal["running", "completed", "rejected", "failed"]


class Queues(BaseModel):
    """Where the engine sends work: its own queue and the agencies' queue prefix."""

    model_config = ConfigDict(frozen=True)

    engine: str = ENGINE_QUEUE
    agency_prefix: str = "agency-"


class CaseInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    flow: FlowDef
    application: dict[str, Any]
    commitment: str
    queues: Queues = Queues()


class StepInput(BaseModel):
    """What an agency needs to act on one step; ``key`` makes the action idempotent."""

    model_config = ConfigDict(frozen=True)

    key: str
    case_id: str
    flow: str
    flow_version: str
    step: str
    agency: str
    commitment: str
    application: dict[str, Any]
    parents: list[SignedHandoff]
    attempt: int = 1
    decided_by: str


class AnchorInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    flow: str
    step: str
    handoff: SignedHandoff


class HandoffRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    case_id: str
    handoff: SignedHandoff
    anchor: Anchor


class StepStatus(BaseModel):
    step: str
    title: str
    agency: str
    state: StepState = "waiting"
    since: str | None = None
    sla_minutes: int
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
