"""The flow engine's worker: the one interpreting workflow plus the local activities that record
handoffs and case statuses in the gateway's store; and the workflow that asks the agencies to
cosign ledger blocks for an evidence bundle (``workflows.cosign``)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import Engine
from sqlmodel import Session
from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

from gateway.casework import record_case, record_handoff, record_handoffs
from workflows import authority
from workflows.authority import Keyring
from workflows.cosign import CosignWorkflow
from workflows.engine import ENGINE_SANDBOX, CaseWorkflow
from workflows.messages import (
    ENGINE_QUEUE,
    RECORD_CASE,
    RECORD_HANDOFF,
    RECORD_HANDOFFS,
    CaseStatus,
    HandoffBatch,
    HandoffRecord,
)

log = logging.getLogger("onevisit.engine")


class StoreActivities:
    def __init__(self, engine: Engine):
        self.engine = engine

    @activity.defn(name=RECORD_HANDOFF)
    def record_handoff(self, record: HandoffRecord) -> None:
        with Session(self.engine) as session:
            record_handoff(session, record.case_id, record.handoff, record.anchor, record.status)

    @activity.defn(name=RECORD_HANDOFFS)
    def record_handoffs(self, batch: HandoffBatch) -> None:
        with Session(self.engine) as session:
            record_handoffs(session, batch.case_id, [(a.handoff, a.anchor) for a in batch.anchored], batch.status)

    @activity.defn(name=RECORD_CASE)
    def record_case(self, status: CaseStatus) -> None:
        with Session(self.engine) as session:
            record_case(session, status)


async def run_engine_worker(
    client: Client, engine: Engine, stop: asyncio.Event, keyring: Keyring, task_queue: str = ENGINE_QUEUE
) -> None:
    """``keyring``: the gateway keys whose signed updates the cases take (workflows.authority)."""
    authority.trust(keyring)
    store = StoreActivities(engine)
    with ThreadPoolExecutor(max_workers=16, thread_name_prefix="engine") as pool:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[CaseWorkflow, CosignWorkflow],
            activities=[store.record_handoff, store.record_handoffs, store.record_case],
            activity_executor=pool,
            # the sandbox still guards every workflow task; no module is imported again per case
            # (CaseWorkflow's module holds no state: its replay tests run it in the full sandbox)
            workflow_runner=SandboxedWorkflowRunner(restrictions=ENGINE_SANDBOX.with_passthrough_all_modules()),
        )
        async with worker:
            log.info("engine polling %s", task_queue)
            await stop.wait()
