"""The interpreting workflow on Temporal's time-skipping test server, with the agencies faked
by activity name on their queues (fakes of outside parties: they sign for real, anchor nowhere)."""

from __future__ import annotations

import asyncio
import secrets
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from chain.handoff import Handoff, SignedHandoff, case_commitment, new_salt, sign
from chain.ledger import Anchor
from workflows.catalog import get_flow
from workflows.engine import CaseWorkflow
from workflows.flows import agency_queue
from workflows.messages import (ANCHOR_HANDOFF, EXECUTE_STEP, RECORD_CASE, RECORD_HANDOFF, AnchorInput,
                                CaseInput, CaseStatus, HandoffRecord, Queues, StepInput)

FLOW = get_flow("business_registration")


class FakeAgency:
    """Stands in for an agency's adapter: signs real handoffs, pretends to anchor."""

    def __init__(self, name: str, log: list, refuse: set[str] = frozenset(), broken: set[str] = frozenset()):
        self.name, self.key, self.log, self.refuse, self.broken = name, secrets.token_bytes(32), log, refuse, broken
        self.blocks = 0

    @activity.defn(name=EXECUTE_STEP)
    def execute(self, req: StepInput) -> SignedHandoff:
        self.log.append(("execute", req.step, tuple(p.record.step for p in req.parents)))
        if req.step in self.broken:
            raise ApplicationError("registry database is corrupt", type="Broken", non_retryable=True)
        outcome, outputs = ("rejected", {"reason": "name taken"}) if req.step in self.refuse else ("completed", {req.step: True})
        rec = Handoff(flow=req.flow, flow_version=req.flow_version, step=req.step, case=req.commitment,
                      agency=self.name, outcome=outcome, outputs=outputs, parents=[p.hash for p in req.parents],
                      decided_by=req.decided_by, time="2026-11-21T10:00:00.000Z")
        return sign(rec, self.key)

    @activity.defn(name=ANCHOR_HANDOFF)
    def anchor(self, req: AnchorInput) -> Anchor:
        self.blocks += 1
        h = req.handoff
        return Anchor(handoff=h.hash, agency="0x" + "00" * 32, case_commitment=h.record.case, step="0x" + "00" * 32,
                      account="0x" + "00" * 20, tx_hash="0x" + "00" * 32, block_number=self.blocks,
                      block_hash="0x" + "00" * 32, log_index=0, timestamp=0)


async def run_case(env, prefix: str, refuse=frozenset(), broken=frozenset()):
    log: list = []
    recorded: dict[str, list] = defaultdict(list)

    @activity.defn(name=RECORD_HANDOFF)
    def record_handoff(r: HandoffRecord) -> None:
        recorded["handoffs"].append(r.handoff.record.step)

    @activity.defn(name=RECORD_CASE)
    def record_case(s: CaseStatus) -> None:
        recorded["case"].append(s.state)

    queues = Queues(engine=f"{prefix}engine", agency_prefix=prefix)
    agencies = {s.agency for s in FLOW.steps}
    pool = ThreadPoolExecutor(8)
    workers = [Worker(env.client, task_queue=queues.engine, workflows=[CaseWorkflow],
                      activities=[record_handoff, record_case], activity_executor=pool)]
    for name in agencies:
        fake = FakeAgency(name, log, refuse, broken)
        workers.append(Worker(env.client, task_queue=agency_queue(name, prefix), activities=[fake.execute, fake.anchor],
                              activity_executor=pool))
    case_id = f"{prefix}case"
    inp = CaseInput(case_id=case_id, flow=FLOW, application={}, commitment=case_commitment(case_id, new_salt()), queues=queues)
    async with asyncio.timeout(60):
        for w in workers:
            await w.__aenter__()
        try:
            status = await env.client.execute_workflow(CaseWorkflow.run, inp, id=case_id, task_queue=queues.engine)
        finally:
            for w in workers:
                await w.__aexit__(None, None, None)
    return status, log, recorded


async def test_registration_runs_the_dag_and_records_every_handoff(time_skipping_env, queue_prefix):
    status, log, recorded = await run_case(time_skipping_env, queue_prefix)
    assert status.state == "completed"
    executed = [step for kind, step, _ in log if kind == "execute"]
    assert executed[:2] == ["name_check", "business_licence"]
    assert sorted(executed[2:]) == ["seal_approval", "social_security", "tax_registration"]
    parents = {step: ps for _, step, ps in log}
    assert parents["tax_registration"] == ("business_licence",) and parents["name_check"] == ()
    assert sorted(recorded["handoffs"]) == sorted(s.id for s in FLOW.steps)
    assert recorded["case"] == ["completed"]
    assert all(s.state == "completed" and s.handoff for s in status.steps)
    assert status.flow_version == FLOW.version_hash()


async def test_a_refused_name_is_a_rejected_handoff_and_stops_the_dependants(time_skipping_env, queue_prefix):
    status, log, recorded = await run_case(time_skipping_env, queue_prefix, refuse={"name_check"})
    assert status.state == "rejected" and "name taken" in status.reason
    assert [s for _, s, _ in log] == ["name_check"]
    assert recorded["handoffs"] == ["name_check"]  # the rejection is anchored and recorded too
    assert {s.step: s.state for s in status.steps}["business_licence"] == "waiting"


async def test_a_permanent_agency_failure_fails_only_its_step_with_the_reason(time_skipping_env, queue_prefix):
    status, _, recorded = await run_case(time_skipping_env, queue_prefix, broken={"tax_registration"})
    states = {s.step: s.state for s in status.steps}
    assert status.state == "failed" and "registry database is corrupt" in status.reason
    assert states["tax_registration"] == "failed"
    assert states["seal_approval"] == states["social_security"] == "completed"  # in flight: finished and kept
    assert recorded["case"] == ["failed"]
