"""Cosigning ledger blocks (issue 8): the gateway asks every agency to cosign the blocks a case's
handoffs were anchored in, as transparency-log witnesses cosign a log's checkpoints. Each agency's
worker reads those blocks on its own ledger node and signs them all at once with its key
(``agencies.cosign``); the auditor counts the agencies its trust root pins
(``chain.audit.proven``). An agency that does not answer in time is left out: too few cosigners
make the bundle's blocks unproven, never proven by the operator's word.

A workflow of its own on the engine's queue (a Temporal client cannot run an activity alone):
one activity per agency, in parallel; nothing of a case's workflow changes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from chain.checkpoint import BlockRef, Checkpoint
from workflows.flows import agency_queue

COSIGN_BLOCKS = "cosign_blocks"  # the agency's activity
COSIGN_WORKFLOW = "CosignBlocks"
COSIGN_WITHIN = timedelta(seconds=5)  # an agency's answer, queued and run, or it is left out


class CosignInput(BaseModel):
    """What one agency is asked to cosign: these blocks of this chain."""

    model_config = ConfigDict(frozen=True)

    chain_id: int
    blocks: list[BlockRef]


class CosignRequest(CosignInput):
    agencies: list[str]
    agency_prefix: str = "agency-"


@workflow.defn(name=COSIGN_WORKFLOW)
class CosignWorkflow:
    @workflow.run
    async def run(self, request: CosignRequest) -> list[Checkpoint]:
        ask = CosignInput(chain_id=request.chain_id, blocks=request.blocks)

        async def one(agency: str) -> Checkpoint | None:
            try:
                return await workflow.execute_activity(
                    COSIGN_BLOCKS,
                    ask,
                    task_queue=agency_queue(agency, request.agency_prefix),
                    schedule_to_close_timeout=COSIGN_WITHIN,
                    retry_policy=RetryPolicy(maximum_attempts=2),
                    result_type=Checkpoint,
                )
            except ActivityError:
                workflow.logger.warning("%s did not cosign blocks %s", agency, [b.number for b in request.blocks])
                return None

        answers = await asyncio.gather(*(one(a) for a in request.agencies))
        return [a for a in answers if a is not None]


__all__ = ["COSIGN_BLOCKS", "COSIGN_WORKFLOW", "CosignInput", "CosignRequest", "CosignWorkflow"]
