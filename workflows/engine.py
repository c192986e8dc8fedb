"""The one workflow that runs every flow: it interprets a ``FlowDef`` as a DAG.

Steps whose dependencies are complete run in parallel; each runs as two activities on the
owning agency's task queue (act and sign, then anchor), then the handoff is recorded by the
engine's own queue. Deterministic: all I/O is in activities, time is ``workflow.now()``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from chain.handoff import SignedHandoff
    from chain.ledger import Anchor
    from workflows.flows import StepDef, agency_queue
    from workflows.messages import (
        ANCHOR_HANDOFF, EXECUTE_STEP, RECORD_CASE, RECORD_HANDOFF, AnchorInput,
        CaseInput, CaseStatus, HandoffRecord, StepInput, StepStatus,
    )

RULES_VERSION = "instant-approval-v1"


def _retry(step: StepDef) -> RetryPolicy:
    r = step.retry
    return RetryPolicy(
        initial_interval=timedelta(seconds=r.initial_interval_s),
        backoff_coefficient=r.backoff,
        maximum_interval=timedelta(seconds=r.max_interval_s),
        maximum_attempts=r.max_attempts,
    )


@workflow.defn(name="CaseWorkflow")
class CaseWorkflow:
    def __init__(self) -> None:
        self._status: CaseStatus | None = None

    @workflow.query(name="status")
    def status(self) -> CaseStatus:
        if self._status is None:
            raise ApplicationError("case has not started")
        return self._status

    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:
        flow = case.flow
        self._status = CaseStatus(
            case_id=case.case_id, flow=flow.name, flow_version=flow.version_hash(),
            steps=[StepStatus(step=s.id, title=s.title, agency=s.agency, sla_minutes=s.sla_minutes) for s in flow.steps],
        )
        done: dict[str, SignedHandoff] = {}
        running: dict[str, asyncio.Task[SignedHandoff | None]] = {}
        waiting = [s.id for s in flow.steps]
        while (waiting or running) and self._status.state == "running":
            for sid in [s for s in waiting if all(d in done for d in flow.step(s).depends_on)]:
                waiting.remove(sid)
                running[sid] = asyncio.create_task(self._run_step(case, flow.step(sid), done))
            finished, _ = await workflow.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
            for sid, task in list(running.items()):
                if task in finished:
                    del running[sid]
                    handoff = task.result()
                    if handoff is not None:
                        done[sid] = handoff
        if running:  # a step was rejected or failed: let the ones in flight finish and record
            await workflow.wait(running.values())
        if self._status.state == "running":
            self._status.state = "completed"
            for h in done.values():
                self._status.result.update(h.record.outputs)
        await workflow.execute_activity(
            RECORD_CASE, self._status, task_queue=case.queues.engine,
            start_to_close_timeout=timedelta(seconds=30),
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    def _step_status(self, sid: str) -> StepStatus:
        return next(s for s in self._status.steps if s.step == sid)

    async def _run_step(self, case: CaseInput, step: StepDef, done: dict[str, SignedHandoff]) -> SignedHandoff | None:
        st = self._step_status(step.id)
        st.state, st.since = "running", workflow.now().isoformat()
        opts = dict(
            task_queue=agency_queue(step.agency, case.queues.agency_prefix),
            start_to_close_timeout=timedelta(seconds=step.timeout_s),
            retry_policy=_retry(step),
        )
        request = StepInput(
            key=f"{case.case_id}/{step.id}/1", case_id=case.case_id, flow=case.flow.name,
            flow_version=self._status.flow_version, step=step.id, agency=step.agency,
            commitment=case.commitment, application=case.application,
            parents=[done[d] for d in step.depends_on], decided_by=f"rule:{RULES_VERSION}",
        )
        try:
            handoff = await workflow.execute_activity(EXECUTE_STEP, request, result_type=SignedHandoff, **opts)
            anchor = await workflow.execute_activity(
                ANCHOR_HANDOFF, AnchorInput(flow=case.flow.name, step=step.id, handoff=handoff),
                result_type=Anchor, **opts,
            )
        except ActivityError as err:
            cause = err.cause
            reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            st.state, st.reason, st.since = "failed", reason, workflow.now().isoformat()
            self._status.state, self._status.reason = "failed", f"{step.id}: {reason}"
            return None
        await workflow.execute_activity(
            RECORD_HANDOFF, HandoffRecord(case_id=case.case_id, handoff=handoff, anchor=anchor),
            task_queue=case.queues.engine, start_to_close_timeout=timedelta(seconds=30),
        )
        st.handoff, st.anchor_block, st.since = handoff.hash, anchor.block_number, workflow.now().isoformat()
        if handoff.record.outcome == "rejected":
            st.state, st.reason = "rejected", str(handoff.record.outputs.get("reason", "rejected"))
            self._status.state, self._status.reason = "rejected", f"{step.id}: {st.reason}"
            return None
        st.state = "completed"
        return handoff
