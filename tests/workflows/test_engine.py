"""The interpreting workflow on Temporal's time-skipping server, with the real agency adapters
(simulated back-ends, real signatures, anchors on the real embedded ledger)."""

from __future__ import annotations

import secrets
import threading
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy

from agencies.accounts import validate_bank_account
from agencies.backend import Broken, Unavailable
from agencies.simulated import SimulatedBackend
from chain.client import Sender
from tests.fixtures.stack import application
from workflows import authority
from workflows.authority import GatewaySigner
from workflows.engine import CaseWorkflow
from workflows.messages import (
    ANCHOR_SIGNED,
    CONFIRM_AND_CLOSE,
    DECIDE_UPDATE,
    PARENT_NOT_ON_LEDGER,
    SUBMIT_STEP,
    CaseStatus,
    Correction,
    Decision,
    Withdrawal,
)

MARKET = "market_regulation"


def review_application(**company) -> dict:
    """Food retail is a licensed activity: the licence goes to a market-regulation clerk."""
    return application(business_scope="食品经营；日用百货销售", **company)


def states(status: CaseStatus) -> dict[str, str]:
    return {s.step: s.state for s in status.steps}


def clerk(step="business_licence", approve=True, reason=None, agency=MARKET, name="clerk-market_regulation"):
    return Decision(step=step, approve=approve, reason=reason, clerk=name, clerk_agency=agency)


async def refused(handle, update, arg) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await handle.execute_update(update, arg)
    return err.value.cause.type


async def test_each_agency_is_sent_only_the_fields_its_step_reads(rig):
    """Need to know: a step's activity input holds what the flow says the step reads, no more."""
    import json

    from workflows.catalog import get_flow
    from workflows.flows import extract
    from workflows.messages import SUBMIT_STEP

    app = application() | {"options": {"bank_account": True}}
    handle = await rig.start(app)
    await handle.result()
    sent = {}
    async for event in handle.fetch_history_events():
        if event.HasField("activity_task_scheduled_event_attributes"):
            attrs = event.activity_task_scheduled_event_attributes
            if attrs.activity_type.name == SUBMIT_STEP:
                step_input = json.loads(attrs.input.payloads[0].data)
                sent[step_input["step"]] = step_input["application"]
    flow = get_flow("business_registration")
    assert sent == {s.id: extract(app, s.reads) for s in flow.steps if s.id in sent}
    assert set(sent) == {s.id for s in flow.steps} - {"housing_fund"}
    assert "shareholders" not in sent["seal_approval"] and "contact" not in sent["name_check"]


async def test_standard_case_runs_the_dag_instantly_and_skips_unrequested_options(rig):
    handle = await rig.start(application())
    status = await handle.result()
    assert status.state == "completed"
    assert states(status) == {
        "name_check": "completed",
        "business_licence": "completed",
        "seal_approval": "completed",
        "tax_registration": "completed",
        "social_security": "completed",
        "bank_account": "skipped",
        "housing_fund": "skipped",
    }
    trail = {h.handoff.record.step: h.handoff for h in rig.trail(status.case_id)}
    closing = trail.pop("_closing")  # the last handoff: the lead agency closes the trail, naming every other
    assert trail["tax_registration"].record.parents == [trail["business_licence"].hash]
    assert all(h.record.decided_by.startswith("rule:sha256:") for h in trail.values())
    assert (closing.record.agency, closing.record.outcome, closing.record.decided_by) == (
        "market_regulation",
        "closed",
        "engine:closing",
    )
    assert closing.record.outputs == {
        "state": "completed",
        "trail": [h.handoff.hash for h in rig.trail(status.case_id)][:-1],
    }
    assert status.closing == closing.hash and rig.trail(status.case_id)[-1].handoff.hash == closing.hash
    licence = rig.trail(status.case_id)[1]
    assert licence.anchor.block_number <= min(h.anchor.block_number for h in rig.trail(status.case_id)[2:])
    assert status.result["taxpayer_id"] == status.result["uscc"]


async def test_optional_steps_run_when_the_applicant_asks(rig):
    status = await (await rig.start(application() | {"options": {"bank_account": True, "housing_fund": True}})).result()
    assert states(status)["bank_account"] == states(status)["housing_fund"] == "completed"
    assert validate_bank_account(status.result["basic_account"])
    assert status.result["taxpayer_type"] == "small_scale"  # the example declares 3,000,000 of sales


async def test_a_clerk_decides_a_licensed_business_and_is_named_in_the_handoff(rig):
    handle = await rig.start(review_application())
    waiting = await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    assert "licence" in waiting.steps[1].review_reasons[0]
    await rig.recorded(lambda r: any(s.state == "awaiting_decision" for s in r.steps))  # queued in the store
    result = await handle.execute_update(CaseWorkflow.decide, clerk())
    assert "approved by clerk-market_regulation" in result.detail
    status = await handle.result()
    licence = next(h.handoff for h in rig.trail(status.case_id) if h.handoff.record.step == "business_licence")
    assert status.state == "completed" and licence.record.decided_by == "clerk:clerk-market_regulation"
    assert [e.kind for e in status.events] == ["decided"]


async def test_an_update_the_gateway_did_not_sign_for_this_case_is_refused(rig):
    """Someone who reaches Temporal with the data key, but not the gateway's signing key, can
    approve nothing: unsigned, forged, tampered, expired, for another case, or replayed."""
    handle = await rig.start(review_application())
    await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    raw = rig.env.client.get_workflow_handle(handle.id)  # no gateway signature added

    server_now = await rig.env.get_current_time()  # the time-skipping server's clock runs ahead of the wall's

    def signed(decision, signer=rig.signer, case_id=handle.id, now=None):
        when = now or server_now
        return decision.model_copy(update={"authority": signer.sign(case_id, DECIDE_UPDATE, decision, when)})

    other_gateway = GatewaySigner(Ed25519PrivateKey.generate())
    good = signed(clerk())
    forged_identity = good.model_copy(update={"clerk": "mallory"})  # the body no longer matches the signature
    messages = {
        "unsigned": clerk(),
        "another key": signed(clerk(), signer=other_gateway),
        "tampered": forged_identity,
        "expired": signed(clerk(), now=server_now - timedelta(minutes=11)),
        "another case": signed(clerk(), case_id="BR-20260101-00000000"),
    }
    for why, message in messages.items():
        assert await refused(raw, CaseWorkflow.decide, message) == "NoGatewayAuthority", why
    assert states(await handle.query(CaseWorkflow.status))["business_licence"] == "awaiting_decision"
    await raw.execute_update(CaseWorkflow.decide, good)  # what the gateway signed goes through as is
    assert await refused(raw, CaseWorkflow.decide, good) == "NoGatewayAuthority"  # but only once
    assert (await handle.result()).state == "completed"


async def test_an_engine_that_trusts_no_gateway_key_takes_no_update(rig, monkeypatch):
    handle = await rig.start(review_application())
    await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    monkeypatch.setattr(authority, "_trusted", None)
    assert await refused(handle, CaseWorkflow.decide, clerk()) == "NoGatewayAuthority"
    monkeypatch.undo()
    await handle.execute_update(CaseWorkflow.decide, clerk())
    assert (await handle.result()).state == "completed"


async def test_only_a_clerk_of_the_owning_agency_may_decide_and_only_while_it_waits(rig):
    handle = await rig.start(review_application())
    await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    assert await refused(handle, CaseWorkflow.decide, clerk(agency="tax", name="clerk-tax")) == "NotYourStep"
    assert await refused(handle, CaseWorkflow.decide, clerk(step="seal_approval")) == "NotYourStep"
    assert (
        await refused(handle, CaseWorkflow.decide, clerk(step="seal_approval", agency="public_security"))
        == "NotAwaiting"
    )
    assert await refused(handle, CaseWorkflow.decide, clerk(step="name_check")) == "NotAwaiting"
    assert await refused(handle, CaseWorkflow.decide, clerk(step="no_such_step")) == "NoSuchStep"
    assert await refused(handle, CaseWorkflow.decide, clerk(approve=False, reason="  ")) == "ReasonRequired"
    assert (
        await refused(handle, CaseWorkflow.correct, Correction(applicant="applicant", application={})) == "NotReturned"
    )
    await handle.execute_update(CaseWorkflow.decide, clerk())
    assert await refused(handle, CaseWorkflow.decide, clerk()) == "NotAwaiting"
    assert (await handle.result()).state == "completed"


async def test_an_update_that_arrives_with_the_start_is_judged_by_its_validator(rig):
    inp = rig.case_input(application())  # validators run before `run` has: the state is the init's
    start = WithStartWorkflowOperation(
        CaseWorkflow.run,
        inp,
        id=inp.case_id,
        task_queue=rig.queues.engine,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await rig.client.execute_update_with_start_workflow(
            CaseWorkflow.withdraw, Withdrawal(applicant="mallory", reason="x"), start_workflow_operation=start
        )
    assert err.value.cause.type == "NotApplicant"
    assert (await (await start.workflow_handle()).result()).state == "completed"


async def test_a_clerks_rejection_returns_the_case_and_the_correction_reruns_only_that_step(rig):
    first = review_application()
    handle = await rig.start(first)
    await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    await handle.execute_update(CaseWorkflow.decide, clerk(approve=False, reason="food licence certificate missing"))
    returned = await rig.until(handle, lambda s: s.state == "returned")
    assert returned.reason == "business_licence: food licence certificate missing"
    assert (
        await refused(handle, CaseWorkflow.correct, Correction(applicant="mallory", application={})) == "NotApplicant"
    )
    renamed = application(name="济南另起信息科技有限公司")  # name_check judged the name and completed
    assert (
        await refused(handle, CaseWorkflow.correct, Correction(applicant="applicant", application=renamed))
        == "CorrectionChangesJudged"
    )
    fixed = application(name=first["company"]["name"])  # the same company, without the food scope
    await handle.execute_update(CaseWorkflow.correct, Correction(applicant="applicant", application=fixed))
    status = await handle.result()
    assert status.state == "completed" and status.steps[1].attempt == 2 and status.steps[0].attempt == 1
    trail = [
        (h.handoff.record.step, h.handoff.record.outcome, h.handoff.record.attempt) for h in rig.trail(status.case_id)
    ]
    assert trail[:3] == [
        ("name_check", "completed", 1),
        ("business_licence", "rejected", 1),
        ("business_licence", "completed", 2),
    ]  # the first attempt stays in the trail
    assert sum(1 for s, _, _ in trail if s == "name_check") == 1


async def test_free_text_reaches_the_trail_only_as_its_salted_commitment(rig):
    """A clerk's reason and a withdrawal's come as commitments (the gateway keeps the text): the
    handoffs carry the commitment, the status its token, and neither the text."""
    from chain.handoff import new_salt, text_commitment
    from workflows.messages import reason_token

    rejected = text_commitment("食品经营许可证缺失", new_salt())
    withdrawn = text_commitment("改在章丘区注册", new_salt())
    handle = await rig.start(review_application())
    await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    decision = clerk(approve=False).model_copy(update={"reason_commitment": rejected})
    await handle.execute_update(CaseWorkflow.decide, decision)
    returned = await rig.until(handle, lambda s: s.state == "returned")
    assert returned.reason == f"business_licence: {reason_token(rejected)}"
    await handle.execute_update(CaseWorkflow.withdraw, Withdrawal(applicant="applicant", reason_commitment=withdrawn))
    status = await handle.result()
    assert status.state == "withdrawn" and status.reason == f"withdrawn by the applicant: {reason_token(withdrawn)}"
    outputs = {h.handoff.record.outcome: h.handoff.record.outputs for h in rig.trail(status.case_id)}
    assert outputs["rejected"] == {"reason_commitment": rejected, "code": "ClerkRejected"}
    assert outputs["compensated"]["reason_commitment"] == withdrawn and "reason" not in outputs["compensated"]


async def test_a_refused_name_is_returned_to_the_applicant_with_the_reason(rig):
    handle = await rig.start(application(name="济南国家电网科技有限公司"))
    status = await rig.until(handle, lambda s: s.state == "returned")
    assert "restricted word '国家'" in status.reason and states(status)["business_licence"] == "waiting"
    await handle.execute_update(CaseWorkflow.correct, Correction(applicant="applicant", application=application()))
    assert (await handle.result()).state == "completed"


async def test_an_sla_that_runs_out_escalates_without_failing_the_case(rig):
    handle = await rig.start(review_application())
    await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    await rig.env.sleep(timedelta(days=2))  # workflow time: the 60-minute SLA is long gone
    status = await rig.until(
        handle,
        lambda s: s.steps[1].escalated and any(h.handoff.record.outcome == "escalated" for h in rig.trail(s.case_id)),
    )
    assert status.state == "running" and states(status)["business_licence"] == "awaiting_decision"
    assert [e.kind for e in status.events] == ["escalated"]
    escalation = next(h.handoff for h in rig.trail(status.case_id) if h.handoff.record.outcome == "escalated")
    assert escalation.record.agency == MARKET and escalation.record.outputs["sla_minutes"] == 60
    await handle.execute_update(CaseWorkflow.decide, clerk())
    done = await handle.result()
    assert done.state == "completed" and done.steps[1].escalated


async def test_withdrawal_undoes_completed_steps_in_reverse_each_a_signed_handoff(rig):
    app = review_application()
    handle = await rig.start(app)
    await rig.until(handle, lambda s: states(s)["business_licence"] == "awaiting_decision")
    assert await refused(handle, CaseWorkflow.withdraw, Withdrawal(applicant="mallory", reason="x")) == "NotApplicant"
    await handle.execute_update(CaseWorkflow.withdraw, Withdrawal(applicant="applicant", reason="changed my mind"))
    status = await handle.result()
    assert status.state == "withdrawn" and states(status)["name_check"] == "compensated"
    assert states(status)["business_licence"] == "cancelled"
    trail = rig.trail(status.case_id)
    undo, closing = trail[-2].handoff, trail[-1].handoff
    assert undo.record.outcome == "compensated" and undo.record.parents == [trail[0].handoff.hash]
    assert closing.record.outputs == {"state": "withdrawn", "trail": [h.handoff.hash for h in trail[:-1]]}
    assert undo.record.outputs["action"] == "release_name"
    again = await rig.start(app)  # the released name can be used again
    await rig.until(again, lambda s: states(s)["name_check"] == "completed")
    await again.execute_update(CaseWorkflow.withdraw, Withdrawal(applicant="applicant", reason="done testing"))
    assert (await again.result()).state == "withdrawn"  # ended before the rig's worker stops: nothing left running


async def test_a_permanent_agency_fault_fails_only_its_step(rig, monkeypatch):
    def broken_tax(self, request):
        if request.step == "tax_registration":
            raise Broken("tax registry rejects the request format")
        return original(self, request)

    original = SimulatedBackend.perform
    monkeypatch.setattr(SimulatedBackend, "perform", broken_tax)
    status = await (await rig.start(application())).result()
    assert status.state == "failed" and "tax registry rejects" in status.reason
    assert states(status)["tax_registration"] == "failed"
    assert states(status)["seal_approval"] == states(status)["social_security"] == "completed"


async def test_a_transient_agency_outage_is_retried_until_it_answers(rig, monkeypatch):
    calls: list[str] = []

    def flaky_seal(self, request):
        if request.step == "seal_approval":
            calls.append(request.key)
            if len(calls) < 3:
                raise Unavailable("seal registry is down for maintenance")
        return original(self, request)

    original = SimulatedBackend.perform
    monkeypatch.setattr(SimulatedBackend, "perform", flaky_seal)
    status = await (await rig.start(application())).result()
    assert status.state == "completed" and len(calls) == 3 and len(set(calls)) == 1  # one key, retried
    seals = [h for h in rig.trail(status.case_id) if h.handoff.record.step == "seal_approval"]
    assert len(seals) == 1 and len(seals[0].handoff.record.outputs["seals"]) == 5


def history_types(events) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]


async def test_a_step_acts_on_its_parents_sent_anchor_and_the_case_confirms_them_all(rig, embedded_ledger):
    """Generation 3: each step sends its anchor and the steps after it act at once; the lead
    agency confirms the case's anchors and closes its trail in one activity, and on the ledger
    every parent still goes before its child, the closing record after them all."""
    handle = await rig.start(application())
    status = await handle.result()
    history = [e async for e in handle.fetch_history_events()]
    types = history_types(history)
    assert types == [SUBMIT_STEP] * 5 + [CONFIRM_AND_CLOSE]
    trail = {h.handoff.hash: h for h in rig.trail(status.case_id)}
    for h in trail.values():
        for parent in h.handoff.record.parents:
            assert (trail[parent].anchor.block_number, trail[parent].anchor.log_index) < (
                h.anchor.block_number,
                h.anchor.log_index,
            )
    on_chain = embedded_ledger.ledger().anchors_for_case(next(iter(trail.values())).handoff.record.case)
    assert sorted(a.handoff for a in on_chain) == sorted(trail)  # each anchored once, the closing record too
    assert {s.step: s.anchor_block for s in status.steps if s.handoff} == {
        h.handoff.record.step: h.anchor.block_number for h in trail.values() if h.handoff.record.step != "_closing"
    }


async def test_an_anchor_lost_from_the_ledgers_pool_is_sent_again_before_the_step_after_it_acts(
    rig, embedded_ledger, monkeypatch
):
    """The name check's anchor never reaches a block (its transaction lost, as from a restarted
    ledger's pool): the licence step does nothing while its parent is neither pending nor mined;
    the case's anchors are confirmed, the lost one anchored again by its own agency, and only then
    is the licence issued, once, and anchored after its parent."""
    lost: list[str] = []
    send, perform = Sender.send_anchor, SimulatedBackend.perform
    performed: list[str] = []

    def losing(self, handoff_hash, flow, step, case_commitment):
        if step == "name_check" and not lost:
            lost.append(handoff_hash)
            return "0x" + secrets.token_hex(32)  # "sent": the ledger never holds it
        return send(self, handoff_hash, flow, step, case_commitment)

    def counting(self, request):
        performed.append(request.step)
        return perform(self, request)

    monkeypatch.setattr(Sender, "send_anchor", losing)
    monkeypatch.setattr(SimulatedBackend, "perform", counting)
    handle = await rig.start(application())
    status = await handle.result()
    assert status.state == "completed"
    history = [e async for e in handle.fetch_history_events()]
    refused = [
        e.activity_task_failed_event_attributes.failure.application_failure_info.type
        for e in history
        if e.HasField("activity_task_failed_event_attributes")
    ]
    assert refused == [PARENT_NOT_ON_LEDGER]
    assert history_types(history).count(ANCHOR_SIGNED) == 1
    assert performed.count("business_licence") == 1 and performed.count("name_check") == 1
    trail = {h.handoff.record.step: h for h in rig.trail(status.case_id)}
    name, licence = trail["name_check"], trail["business_licence"]
    assert name.handoff.hash == lost[0]
    assert (name.anchor.block_number, name.anchor.log_index) < (licence.anchor.block_number, licence.anchor.log_index)
    on_chain = embedded_ledger.ledger().anchors_for_case(name.handoff.record.case)
    assert sorted(a.handoff for a in on_chain) == sorted(h.handoff.hash for h in trail.values())


async def test_an_anchor_the_ledger_refuses_fails_its_step_and_the_case(rig, embedded_ledger, monkeypatch):
    """The tax agency's anchor reverts (sent under a step it does not own, as a misconfigured
    worker would): the confirmation fails that step, the case fails, and the closing record names
    only the handoffs on the ledger."""
    send = Sender.send_anchor

    def misnamed(self, handoff_hash, flow, step, case_commitment):
        return send(self, handoff_hash, flow, "name_check" if step == "tax_registration" else step, case_commitment)

    monkeypatch.setattr(Sender, "send_anchor", misnamed)
    status = await (await rig.start(application())).result()
    assert status.state == "failed" and states(status)["tax_registration"] == "failed"
    assert "step owned by another agency" in status.reason
    trail = rig.trail(status.case_id)
    assert "tax_registration" not in {h.handoff.record.step for h in trail}
    closing = trail[-1].handoff
    assert closing.record.outputs["state"] == "failed"
    assert closing.record.outputs["trail"] == [h.handoff.hash for h in trail[:-1]]
    on_chain = embedded_ledger.ledger().anchors_for_case(closing.record.case)
    assert sorted(a.handoff for a in on_chain) == sorted(h.handoff.hash for h in trail)
    # a reader never sees the case ended without its closing record (the status waits for it)
    ended = [r for r in rig.records if r is not None and r.case_id == status.case_id and r.state == "failed"]
    assert ended and all(r.closing == closing.hash for r in ended)


async def test_a_slow_agency_does_not_hide_the_others_progress(rig, monkeypatch):
    """Generation 3 records no step on its own while a case is young; once it has run 5 s, what
    is done is recorded although one agency is still at work."""
    release = threading.Event()
    perform = SimulatedBackend.perform

    def slow_tax(self, request):
        if request.step == "tax_registration":
            release.wait(120)
        return perform(self, request)

    monkeypatch.setattr(SimulatedBackend, "perform", slow_tax)
    handle = await rig.start(application())
    try:
        await rig.until(handle, lambda s: states(s)["seal_approval"] == states(s)["social_security"] == "completed")
        assert not any(r is not None and r.case_id == handle.id for r in rig.records)  # young: nothing recorded
        await rig.env.sleep(timedelta(seconds=6))  # workflow time, past SHOWN_WITHIN (and within a heartbeat)
        await rig.recorded(
            lambda r: (
                r is not None
                and r.case_id == handle.id
                and states(r)["seal_approval"] == "completed"
                and states(r)["tax_registration"] == "running"
            )
        )
    finally:
        release.set()
    assert (await handle.result()).state == "completed"


async def test_a_case_waiting_for_a_clerk_has_every_anchor_of_it_recorded(rig, embedded_ledger):
    """Before a case waits on a person, what it sent is confirmed and recorded: the ledger holds no
    anchor of it that the store lacks (``audit ledger`` agrees while clerks take their time)."""
    handle = await rig.start(review_application())
    await rig.recorded(
        lambda r: r is not None and r.case_id == handle.id and states(r)["business_licence"] == "awaiting_decision"
    )
    (name,) = rig.trail(handle.id)
    assert name.handoff.record.step == "name_check"
    assert embedded_ledger.ledger().anchors_for_case(name.handoff.record.case) == [name.anchor]
    await handle.execute_update(CaseWorkflow.decide, clerk())
    assert (await handle.result()).state == "completed"
