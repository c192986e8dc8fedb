"""The one workflow that runs every flow: it interprets a ``FlowDef`` as a DAG.

Steps whose dependencies are met run in parallel. A step's approval policy either approves it by
rule or waits for a clerk of the owning agency (an Update). The agency then acts, signs and sends
its anchor in one activity on its own task queue (``agency.submit_step``), without waiting for the
block: the steps after it act at once, each only while its parents' anchors are pending or mined.
The lead agency confirms the case's anchors before it returns to the applicant, is undone, or
closes (then in the same activity as its closing record), and the engine records the handoffs, their
anchors and the case's status in the gateway's store in a local activity, so the store is what
status reads are served from. Cases started before generation 3 (``CaseInput.engine``) keep the
shape they started with: each step anchored before the next acts, each handoff recorded alone.
A step past its SLA escalates and keeps going. A rejection returns the case to the applicant,
whose correction re-runs that step and its dependants; a withdrawal undoes the completed steps in
reverse order, each undo a signed handoff of its own.
Deterministic: all I/O is in activities, time is ``workflow.now()``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.worker.workflow_sandbox import SandboxRestrictions

with workflow.unsafe.imports_passed_through():
    from chain.anchors import Anchor
    from chain.handoff import CLOSING_STEP, SignedHandoff
    from workflows import authority
    from workflows.flows import StepDef, agency_queue, changed_paths, extract, overlaps
    from workflows.messages import (
        ANCHOR_HANDOFF,
        ANCHOR_SIGNED,
        CASE_WORKFLOW,
        CLOSE_CASE,
        CLOSING_RECORD,
        COMPENSATE_STEP,
        CONFIRM_ANCHORS,
        CONFIRM_AND_CLOSE,
        CORRECT_UPDATE,
        DECIDE_UPDATE,
        ESCALATE_STEP,
        EXECUTE_STEP,
        ONE_ACTIVITY_STEPS,
        PARENT_NOT_ON_LEDGER,
        PERFORM_STEP,
        RECORD_CASE,
        RECORD_HANDOFF,
        RECORD_HANDOFFS,
        SIGN_ESCALATION,
        STATUS_QUERY,
        SUBMIT_STEP,
        UNDO_STEP,
        WITHDRAW_UPDATE,
        AnchoredHandoff,
        AnchorInput,
        AnchorSent,
        CaseEvent,
        CaseInput,
        CaseStatus,
        Closed,
        CloseInput,
        CompensateInput,
        Confirmation,
        ConfirmInput,
        Correction,
        Decision,
        EscalateInput,
        HandoffBatch,
        HandoffRecord,
        Refusal,
        SentHandoff,
        StepInput,
        StepStatus,
        UpdateResult,
        Withdrawal,
        reason_token,
    )

RECORD_TIMEOUT = timedelta(seconds=30)
CLOSE_TIMEOUT = timedelta(seconds=60)  # one attempt at signing and anchoring the closing record
HEARTBEAT_TIMEOUT = timedelta(seconds=10)  # an agency's activity heartbeats every 2 s while it runs
RETURNED_FOR = timedelta(days=30)  # a returned case nobody corrects closes as rejected
SHOWN_WITHIN = timedelta(seconds=5)  # generation 3: progress not yet recorded is recorded once a step runs this long


def _retry(step: StepDef) -> RetryPolicy:
    r = step.retry
    return RetryPolicy(
        initial_interval=timedelta(seconds=r.initial_interval_s),
        backoff_coefficient=r.backoff,
        maximum_interval=timedelta(seconds=r.max_interval_s),
        maximum_attempts=r.max_attempts,
    )


def _said(message: Decision | Withdrawal) -> str:
    """The reason a message gives, as a case status shows it: the text of an older message, else the
    token standing for the text the gateway keeps (``reason_token``)."""
    if message.reason_commitment:
        return reason_token(message.reason_commitment)
    return message.reason or ""


def _reason_of(message: Withdrawal) -> dict:
    """The reason for an agency's handoff: the commitment, or the text of an older withdrawal."""
    if message.reason_commitment:
        return {"reason_commitment": message.reason_commitment}
    return {"reason": message.reason}


class StepStopped(Exception):
    """A step ended without a completed handoff (rejected, failed or cancelled)."""


# The sandbox every engine worker runs cases in: the default guards, with the gateway keys the
# worker trusts (workflows.authority, set once at start) seen as they are, not as a fresh copy, and
# cryptography's native code (which aborts the process when its exceptions are re-imported).
ENGINE_SANDBOX = SandboxRestrictions.default.with_passthrough_modules("workflows.authority", "cryptography")


@workflow.defn(name=CASE_WORKFLOW)
class CaseWorkflow:
    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        """All state, set before anything runs: update validators may run before ``run`` does."""
        self._case = case
        self._application = case.application  # replaced by the applicant's correction
        self._status = CaseStatus(
            case_id=case.case_id,
            flow=case.flow.name,
            flow_version=case.flow.version_hash(),
            steps=[
                StepStatus(step=s.id, title=s.title, agency=s.agency, sla_minutes=s.sla_minutes)
                for s in case.flow.steps
            ],
        )
        self._decisions: dict[str, Decision] = {}
        self._correction: Correction | None = None
        self._withdrawal: Withdrawal | None = None
        self._completed: dict[str, SignedHandoff] = {}  # step -> its completed handoff
        self._order: list[str] = []  # steps in the order they completed
        self._background: list[asyncio.Task] = []
        self._authorities: set[str] = set()  # nonces of the signed updates taken: none is taken twice
        self._trail: list[str] = []  # every handoff of the case, in the order recorded
        self._one_activity = True  # decided for good at the start of ``run``
        self._pipelined = case.engine >= 3  # steps send their anchors; _settle confirms them
        self._pending: dict[str, tuple[str, SentHandoff]] = {}  # handoff -> (step, sent), not yet confirmed
        self._settling = asyncio.Lock()
        self._unrecorded = False  # generation 3: the status changed since it was last recorded
        self._grown = False  # generation 3: the case has run SHOWN_WITHIN (see _grow_up)
        self._ended = False  # generation 3: nothing more runs but its closing

    # ------------------------------------------------------------------ queries and updates
    @workflow.query(name=STATUS_QUERY)
    def status(self) -> CaseStatus:
        return self._status

    def _check_authority(self, update: str, message: Decision | Correction | Withdrawal) -> None:
        try:
            authority.check(self._case.case_id, update, message, workflow.now(), self._authorities)
        except authority.AuthorityError as exc:
            raise ApplicationError(str(exc), type=Refusal.NO_AUTHORITY) from None

    def _took(self, message: Decision | Correction | Withdrawal) -> None:
        if message.authority is not None:
            self._authorities.add(message.authority.nonce)

    @workflow.update(name=DECIDE_UPDATE)
    async def decide(self, decision: Decision) -> UpdateResult:
        self._took(decision)
        self._decisions[decision.step] = decision
        verdict = "approved" if decision.approve else f"rejected: {_said(decision)}"
        return UpdateResult(case_id=self._case.case_id, detail=f"{decision.step} {verdict} by {decision.clerk}")

    @decide.validator
    def _validate_decide(self, decision: Decision) -> None:
        self._check_authority(DECIDE_UPDATE, decision)
        st = self._step_status(decision.step, missing_ok=True)
        if st is None:
            raise ApplicationError(f"this case has no step {decision.step!r}", type=Refusal.NO_SUCH_STEP)
        if st.agency != decision.clerk_agency:
            raise ApplicationError(
                f"only a clerk of {st.agency} may decide {decision.step}", type=Refusal.NOT_YOUR_STEP
            )
        if st.state != "awaiting_decision" or decision.step in self._decisions:
            raise ApplicationError(
                f"{decision.step} is not awaiting a decision (it is {st.state})", type=Refusal.NOT_AWAITING
            )
        if not decision.approve and not ((decision.reason or "").strip() or decision.reason_commitment):
            raise ApplicationError("a rejection needs a reason", type=Refusal.REASON_REQUIRED)

    @workflow.update(name=CORRECT_UPDATE)
    async def correct(self, correction: Correction) -> UpdateResult:
        self._took(correction)
        self._correction = correction
        return UpdateResult(case_id=self._case.case_id, detail="correction accepted; the returned step runs again")

    @correct.validator
    def _validate_correct(self, correction: Correction) -> None:
        self._check_authority(CORRECT_UPDATE, correction)
        self._check_applicant(correction.applicant)
        if self._status.state != "returned" or self._correction is not None:
            raise ApplicationError(
                f"the case is {self._status.state}, not returned for correction", type=Refusal.NOT_RETURNED
            )
        changed = changed_paths(self._application, correction.application)
        for st in self._status.steps:  # completed steps do not run again: what they judged may not change
            step = self._case.flow.step(st.step)
            touched = [p for p in changed if st.state == "completed" and overlaps(p, step.judged())]
            if touched:
                raise ApplicationError(
                    f"the correction changes {', '.join(touched)}, which {st.step} ({step.agency}) already "
                    "judged and completed; correct only what the returned step needs, or withdraw and apply again",
                    type=Refusal.CHANGES_JUDGED,
                )

    @workflow.update(name=WITHDRAW_UPDATE)
    async def withdraw(self, withdrawal: Withdrawal) -> UpdateResult:
        self._took(withdrawal)
        self._withdrawal = withdrawal
        return UpdateResult(case_id=self._case.case_id, detail="withdrawal accepted; completed steps are being undone")

    @withdraw.validator
    def _validate_withdraw(self, withdrawal: Withdrawal) -> None:
        self._check_authority(WITHDRAW_UPDATE, withdrawal)
        self._check_applicant(withdrawal.applicant)
        if self._status.state not in ("running", "returned") or self._withdrawal is not None:
            raise ApplicationError(
                f"the case is {self._status.state} and can no longer be withdrawn", type=Refusal.NOT_WITHDRAWABLE
            )

    def _check_applicant(self, applicant: str) -> None:
        if applicant != self._case.applicant:
            raise ApplicationError("only the applicant may do this", type=Refusal.NOT_APPLICANT)

    # ------------------------------------------------------------------------------- run
    @workflow.run
    async def run(self, case: CaseInput) -> CaseStatus:  # ``case`` is already held: see ``__init__``
        # Cases started before one agency activity per step keep signing, anchoring and recording apart.
        self._one_activity = case.engine >= 2 or workflow.patched(ONE_ACTIVITY_STEPS)
        if self._pipelined:
            self._background.append(asyncio.create_task(self._grow_up()))
        while True:
            await self._run_dag()
            if self._withdrawal is not None or any(s.state == "rejected" for s in self._status.steps):
                await self._settle()  # before the case returns or is undone (or closes: _close)
            if self._withdrawal is not None:
                await self._compensate()
                break
            rejected = [s for s in self._status.steps if s.state == "rejected"]
            if not rejected:
                break
            if not self._case.flow.corrections:  # a refusal that ends the case: nothing to correct
                self._set_case("rejected", f"{rejected[0].step}: {rejected[0].reason}")
                self._cancel_waiting()
                break
            await self._return_to_applicant(rejected[0])
            if self._correction is None and self._withdrawal is None:
                self._set_case("rejected", f"not corrected within {RETURNED_FOR.days} days: {self._status.reason}")
                break
            if self._withdrawal is not None:
                await self._compensate()
                break
            self._apply_correction(rejected)
        if self._status.state == "running":
            self._conclude()
        self._ended = True
        if self._background:
            await workflow.wait(self._background)
        if self._one_activity and (case.engine >= 2 or workflow.patched(CLOSING_RECORD)):
            await self._close()
        if not (self._pipelined and self._status.closing and not self._unrecorded):  # else recorded with it
            await self._record_case()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._status

    async def _grow_up(self) -> None:
        """Generation 3: a case that runs its steps in a few seconds times nothing but this; one
        that runs longer records its progress now, and from now on times each step (SLA included)."""
        try:
            await workflow.wait_condition(lambda: self._ended, timeout=SHOWN_WITHIN)
        except TimeoutError:
            self._grown = True
            await self._show()

    async def _show(self) -> None:
        """Generation 3: bring the store up to date, the anchors sent confirmed and recorded with
        the status (a case that waits on a person or a slow agency is shown as it is, and the
        ledger holds no anchor of it that the store lacks)."""
        await self._settle()
        if self._unrecorded:
            await self._record_case()

    def _conclude(self) -> None:
        """A case that ran to its end: completed, or failed naming its failed steps; its result, what
        its completed steps issued."""
        failed = [s for s in self._status.steps if s.state == "failed"]
        self._set_case("failed" if failed else "completed", "; ".join(f"{s.step}: {s.reason}" for s in failed) or None)
        self._status.result = {}
        for sid in self._order:
            self._status.result.update(self._completed[sid].record.outputs)

    async def _run_dag(self) -> None:
        """Start every step whose dependencies are met; return when nothing more can run."""
        flow, running = self._case.flow, {}
        while True:
            if self._withdrawal is None:
                for s in flow.steps:
                    st = self._step_status(s.id)
                    if st.state == "waiting" and all(self._dep_done(d) for d in s.depends_on):
                        if not s.applies(self._application):
                            st.state = "skipped"
                            continue
                        running[s.id] = asyncio.create_task(self._run_step(s))
            if not running:
                return
            await workflow.wait_condition(
                lambda: any(t.done() for t in running.values()) or self._withdrawal is not None
            )
            for sid, task in list(running.items()):
                if task.done():
                    del running[sid]
                    task.result()  # steps record their own outcome; a bug fails the workflow task
            if self._withdrawal is not None and running:
                await workflow.wait_condition(lambda: all(t.done() for t in running.values()))
                return

    def _dep_done(self, dep: str) -> bool:
        return self._step_status(dep).state in ("completed", "skipped")

    async def _run_step(self, step: StepDef) -> None:
        st = self._step_status(step.id)
        started = workflow.now()
        st.state, st.since = "running", started.isoformat()
        st.deadline = (started + timedelta(minutes=step.sla_minutes)).isoformat()
        work = asyncio.create_task(self._step_work(step, st))
        sla = timedelta(minutes=step.sla_minutes)
        if self._pipelined:
            # A young case starts no timer per step: one timer (``_grow_up``) ends its youth. After
            # it, a step's progress is recorded once it has run SHOWN_WITHIN (a slow agency, a
            # clerk), and its SLA is timed for what is left of it.
            await workflow.wait_condition(lambda: work.done() or self._grown)
            if sla > SHOWN_WITHIN and not work.done():
                try:
                    await workflow.wait_condition(work.done, timeout=SHOWN_WITHIN)
                except TimeoutError:
                    await self._show()
            sla = max(started + sla - workflow.now(), timedelta(seconds=1))
        try:
            await workflow.wait_condition(work.done, timeout=sla)
        except TimeoutError:
            self._escalate(step, st)
            await workflow.wait_condition(work.done)
        work.result()

    async def _step_work(self, step: StepDef, st: StepStatus) -> None:
        reasons = step.approval.review_reasons(self._application)
        decision, reason, decided_by = "perform", None, f"rule:{step.approval.version()}"
        reason_commitment = None
        if reasons:
            st.state, st.review_reasons = "awaiting_decision", reasons
            if self._pipelined:  # the case waits on a person: what it sent is confirmed and recorded first
                self._unrecorded = True
                await self._show()
            else:
                await self._record_case()  # the clerks' queue is built from the recorded status
            await workflow.wait_condition(lambda: step.id in self._decisions or self._withdrawal is not None)
            if step.id not in self._decisions:
                st.state = "cancelled"
                return
            d = self._decisions.pop(step.id)
            decision, reason, decided_by = ("perform" if d.approve else "reject"), d.reason, f"clerk:{d.clerk}"
            said = _said(d)
            self._event(
                "decided",
                step.id,
                f"{'approved' if d.approve else 'rejected'} by {d.clerk}" + (f": {said}" if said else ""),
            )
            if d.reason_commitment:
                reason_commitment = d.reason_commitment
            st.state = "running"
            await self._record_case()  # off the clerks' queue
        st.decided_by = decided_by
        if reason_commitment:
            request = self._step_input(
                step, st, decided_by, self._application, decision=decision, reason_commitment=reason_commitment
            )
        else:
            request = self._step_input(step, st, decided_by, self._application, decision=decision, reason=reason)
        try:
            if self._pipelined:
                sent = await self._submit(step, request)
                if sent is None:  # a parent's anchor was refused meanwhile: nothing to act on
                    st.state = "cancelled"
                    return
                handoff, anchor = sent.handoff, sent.anchor
            else:
                done = await self._agency_act(step, PERFORM_STEP, EXECUTE_STEP, request)
                handoff, anchor = done.handoff, done.anchor
        except ActivityError as err:
            cause = err.cause
            st.reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
            st.state, st.since = "failed", workflow.now().isoformat()
            self._event("failed", step.id, st.reason)
            self._unrecorded = True
            return
        st.handoff, st.since = handoff.hash, workflow.now().isoformat()
        st.anchor_block = anchor.block_number if anchor is not None else None  # None: sent, not yet confirmed
        if handoff.record.outcome == "rejected":
            outputs = handoff.record.outputs
            kept = outputs.get("reason_commitment")  # a clerk's reason: the gateway shows the text
            st.state, st.reason = "rejected", reason_token(kept) if kept else str(outputs.get("reason", "rejected"))
        else:
            st.state, st.reason = "completed", None
            self._completed[step.id] = handoff
            self._order.append(step.id)
        if anchor is not None:
            await self._record(AnchoredHandoff(handoff=handoff, anchor=anchor))
            return
        self._trail.append(handoff.hash)
        self._pending[handoff.hash] = (step.id, sent)
        self._unrecorded = True

    async def _submit(self, step: StepDef, request: StepInput) -> SentHandoff | None:
        """The agency acts, signs and sends the anchor (SUBMIT_STEP). While a parent's anchor is
        neither pending nor mined (lost with a restarted ledger's pool), the agency does nothing:
        the case's anchors are confirmed first (the lost one sent again), then the step asked again."""
        while True:
            try:
                return await workflow.execute_activity(
                    SUBMIT_STEP, request, result_type=SentHandoff, **self._agency_options(step)
                )
            except ActivityError as err:
                cause = err.cause
                if not (isinstance(cause, ApplicationError) and cause.type == PARENT_NOT_ON_LEDGER):
                    raise
            await self._settle()
            if any(d not in self._completed and self._step_status(d).state != "skipped" for d in step.depends_on):
                return None
            request = request.model_copy(update={"parent_txs": self._parent_txs(step)})

    def _parent_txs(self, step: StepDef) -> dict[str, str]:
        """The anchor transactions of the step's parents that are sent but not yet confirmed."""
        out = {}
        for d in step.depends_on:
            parent = self._completed.get(d)
            if parent is not None and parent.hash in self._pending:
                tx = self._pending[parent.hash][1].tx
                if tx is not None:
                    out[parent.hash] = tx
        return out

    async def _settle(self) -> None:
        """Confirm every anchor sent and not yet confirmed, in the order sent: one activity of the
        lead agency reads them all from the ledger. Then record them together."""
        if not self._pending:
            return
        async with self._settling:
            sent = list(self._pending.values())
            if not sent:
                return
            confirmations = await workflow.execute_activity(
                CONFIRM_ANCHORS,
                ConfirmInput(case_id=self._case.case_id, sent=[AnchorSent.of(s) for _, s in sent]),
                result_type=list[Confirmation],
                **self._lead_options(),
            )
            anchored = await self._confirmed(sent, confirmations)
            if anchored:
                await self._record_batch(anchored)

    def _lead_options(self) -> dict:
        return dict(
            task_queue=agency_queue(self._case.flow.lead_agency(), self._case.queues.agency_prefix),
            start_to_close_timeout=CLOSE_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=60)),  # until the agency is back
        )

    async def _confirmed(
        self, sent: list[tuple[str, SentHandoff]], confirmations: list[Confirmation]
    ) -> list[AnchoredHandoff]:
        """Take the confirmations of ``sent``: a lost anchor its own agency sends again, one whose
        signer the registry retired by its block it signs again (both in the order sent, so parents
        stay first); one the ledger refused fails its step. The anchored handoffs, to record."""
        anchored = []
        for (sid, s), c in zip(sent, confirmations, strict=True):
            done = AnchoredHandoff(handoff=s.handoff, anchor=c.anchor) if c.problem is None else None
            if c.problem in ("lost", "resign"):
                step = self._case.flow.step(sid)
                again = AnchorInput(flow=self._case.flow.name, step=sid, handoff=s.handoff, key=s.key)
                try:
                    done = await workflow.execute_activity(
                        ANCHOR_SIGNED, again, result_type=AnchoredHandoff, **self._agency_options(step)
                    )
                except ActivityError as err:
                    cause = err.cause
                    detail = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
                    c = c.model_copy(update={"detail": detail})
            del self._pending[s.handoff.hash]
            if done is None:
                self._refused(sid, s.handoff.hash, c.detail or "ledger refused the anchor")
                continue
            st = self._step_status(sid)
            if st.handoff == done.handoff.hash:
                st.anchor_block = done.anchor.block_number
            if sid in self._completed and self._completed[sid].hash == done.handoff.hash:
                self._completed[sid] = done.handoff  # signed again, perhaps: the same record
            anchored.append(done)
        return anchored

    async def _record_batch(self, anchored: list[AnchoredHandoff]) -> None:
        """Record confirmed handoffs, with the status unless it would show the case ended before
        its closing record (then the status waits for it)."""
        status = None
        if self._showable():
            self._status.revision += 1
            self._unrecorded, status = False, self._status
        batch = HandoffBatch(case_id=self._case.case_id, anchored=anchored, status=status)
        await workflow.execute_local_activity(RECORD_HANDOFFS, batch, start_to_close_timeout=RECORD_TIMEOUT)

    def _showable(self) -> bool:
        """Generation 3: a status is recorded as ended only with its closing record (a reader that
        sees a case ended sees the closing record too)."""
        return not (self._pipelined and self._status.state not in ("running", "returned") and not self._status.closing)

    def _refused(self, sid: str, handoff: str, reason: str) -> None:
        """The ledger will not anchor a step's handoff: the step failed, and the handoff is no part
        of the trail (a step after it that acted on it is shown by the auditor, its parent unanchored)."""
        st = self._step_status(sid)
        st.state, st.reason, st.since = "failed", reason, workflow.now().isoformat()
        self._event("failed", sid, reason)
        self._unrecorded = True
        if sid in self._completed and self._completed[sid].hash == handoff:
            del self._completed[sid]
            self._order.remove(sid)
        self._trail.remove(handoff)

    def _step_input(self, step: StepDef, st: StepStatus, decided_by: str, application: dict, **decision) -> StepInput:
        return StepInput(
            key=f"{self._case.case_id}/{step.id}/{st.attempt}",
            case_id=self._case.case_id,
            flow=self._case.flow.name,
            flow_version=self._status.flow_version,
            rules_version=step.approval.version(),
            step=step.id,
            agency=step.agency,
            commitment=self._case.commitment,
            application=application if step.reads is None else extract(application, step.reads),  # need to know
            parents=[self._completed[d] for d in step.depends_on if d in self._completed],
            parent_txs=self._parent_txs(step),
            attempt=st.attempt,
            decided_by=decided_by,
            **decision,
        )

    def _agency_options(self, step: StepDef) -> dict:
        return dict(
            task_queue=agency_queue(step.agency, self._case.queues.agency_prefix),
            start_to_close_timeout=timedelta(seconds=step.timeout_s),
            heartbeat_timeout=HEARTBEAT_TIMEOUT,  # a killed worker's attempt is retried in seconds
            retry_policy=_retry(step),
        )

    async def _agency_act(self, step: StepDef, activity: str, legacy: str, request) -> AnchoredHandoff:
        """The owning agency acts, signs and anchors: one activity on its queue (two for a case
        started before one-activity steps)."""
        opts = self._agency_options(step)
        if self._one_activity:
            return await workflow.execute_activity(activity, request, result_type=AnchoredHandoff, **opts)
        handoff = await workflow.execute_activity(legacy, request, result_type=SignedHandoff, **opts)
        anchor_in = AnchorInput(flow=self._case.flow.name, step=step.id, handoff=handoff)
        anchor = await workflow.execute_activity(ANCHOR_HANDOFF, anchor_in, result_type=Anchor, **opts)
        return AnchoredHandoff(handoff=handoff, anchor=anchor)

    async def _close(self) -> None:
        """The trail's last handoff: the flow's lead agency signs and anchors the case's final state
        and the hash of every handoff before it, so a trail cut short cannot pass for whole."""
        flow = self._case.flow
        request = CloseInput(
            key=f"{self._case.case_id}/{CLOSING_STEP}",
            case_id=self._case.case_id,
            flow=flow.name,
            flow_version=self._status.flow_version,
            agency=flow.lead_agency(),
            commitment=self._case.commitment,
            state=self._status.state,
            trail=list(self._trail),
        )
        if self._pipelined:
            await self._confirm_and_close(request)
            return
        done = await workflow.execute_activity(CLOSE_CASE, request, result_type=AnchoredHandoff, **self._lead_options())
        self._status.closing = done.handoff.hash
        await self._record(done)

    async def _confirm_and_close(self, request: CloseInput) -> None:
        """Generation 3: one activity of the lead agency confirms what is still sent and closes the
        trail after it. If a confirmation finds something wrong, nothing is closed: the engine puts
        it right (a step whose anchor was refused failed, and so did the case), then asks again."""
        async with self._settling:
            while True:
                sent = list(self._pending.values())
                request = request.model_copy(
                    update={
                        "state": self._status.state,
                        "trail": list(self._trail),
                        "sent": [AnchorSent.of(s) for _, s in sent],
                    }
                )
                closed = await workflow.execute_activity(
                    CONFIRM_AND_CLOSE, request, result_type=Closed, **self._lead_options()
                )
                anchored = await self._confirmed(sent, closed.confirmations)
                if closed.closing is not None:
                    self._trail.append(closed.closing.handoff.hash)
                    self._status.closing = closed.closing.handoff.hash
                    await self._record_batch([*anchored, closed.closing])
                    return
                if self._status.state in ("completed", "failed"):
                    self._conclude()  # a step whose anchor was refused has failed
                if anchored:
                    await self._record_batch(anchored)

    async def _record(self, done: AnchoredHandoff) -> None:
        """Keep the handoff, its anchor and the status it led to in the store (a local activity: the
        engine's own bookkeeping, no round trip through a task queue)."""
        self._trail.append(done.handoff.hash)
        self._status.revision += 1  # the store keeps only the newest of concurrent records
        self._unrecorded = False
        if not self._one_activity:
            record = HandoffRecord(case_id=self._case.case_id, handoff=done.handoff, anchor=done.anchor)
            await workflow.execute_activity(
                RECORD_HANDOFF, record, task_queue=self._case.queues.engine, start_to_close_timeout=RECORD_TIMEOUT
            )
            return
        record = HandoffRecord(
            case_id=self._case.case_id, handoff=done.handoff, anchor=done.anchor, status=self._status
        )
        await workflow.execute_local_activity(RECORD_HANDOFF, record, start_to_close_timeout=RECORD_TIMEOUT)

    # ------------------------------------------------------------- SLA, return, withdrawal
    def _escalate(self, step: StepDef, st: StepStatus) -> None:
        """Past its SLA: mark it on the case at once, and have the agency sign the fact."""
        st.escalated = True
        self._event("escalated", step.id, f"past its {step.sla_minutes}-minute SLA while {st.state}")
        self._background.append(asyncio.create_task(self._record_case()))
        self._background.append(asyncio.create_task(self._signed_escalation(step, st)))

    async def _signed_escalation(self, step: StepDef, st: StepStatus) -> None:
        await self._settle()  # the escalation names the step's parents: their anchors go first
        base = self._step_input(step, st, "rule:sla", application={})  # an escalation needs no personal data
        request = EscalateInput(
            key=f"{base.key}/escalated", step=base, sla_minutes=step.sla_minutes, since=st.since or ""
        )
        await self._record(await self._agency_act(step, SIGN_ESCALATION, ESCALATE_STEP, request))

    async def _return_to_applicant(self, st: StepStatus) -> None:
        self._set_case("returned", f"{st.step}: {st.reason}")
        self._event("returned", st.step, st.reason or "")
        await self._record_case()
        try:
            await workflow.wait_condition(
                lambda: self._correction is not None or self._withdrawal is not None, timeout=RETURNED_FOR
            )
        except TimeoutError:
            return

    def _apply_correction(self, rejected: list[StepStatus]) -> None:
        """Re-run the rejected steps and everything that depends on them; keep the rest."""
        self._application = self._correction.application
        self._correction = None
        again = {s.step for s in rejected}
        for s in self._case.flow.steps:  # definitions are topologically checked; close over dependants
            if any(d in again for d in s.depends_on):
                again.add(s.id)
        for st in self._status.steps:
            if st.step in again and st.state not in ("completed",):
                st.state, st.reason, st.review_reasons, st.escalated = "waiting", None, [], False
                st.attempt += 1
        self._set_case("running", None)
        self._event("corrected", None, f"re-running {', '.join(sorted(again))}")

    async def _compensate(self) -> None:
        """Undo completed steps in reverse order of completion, each a signed handoff."""
        self._event("withdrawn", None, _said(self._withdrawal))
        for sid in reversed(self._order):
            step = self._case.flow.step(sid)
            if step.compensation is None:
                continue
            done = self._completed[sid]
            request = CompensateInput(
                key=f"{self._case.case_id}/{sid}/compensate",
                case_id=self._case.case_id,
                action=step.compensation,
                handoff=done,
                application=self._application if step.reads is None else extract(self._application, step.reads),
                **_reason_of(self._withdrawal),
            )
            undone = await self._agency_act(step, UNDO_STEP, COMPENSATE_STEP, request)
            st = self._step_status(sid)
            st.state, st.handoff, st.anchor_block = "compensated", undone.handoff.hash, undone.anchor.block_number
            await self._record(undone)
        self._cancel_waiting()
        self._set_case("withdrawn", f"withdrawn by the applicant: {_said(self._withdrawal)}")

    # ---------------------------------------------------------------------------- helpers
    def _cancel_waiting(self) -> None:
        for st in self._status.steps:
            if st.state in ("waiting", "awaiting_decision"):
                st.state = "cancelled"

    def _step_status(self, sid: str, missing_ok: bool = False) -> StepStatus | None:
        for s in self._status.steps:
            if s.step == sid:
                return s
        if missing_ok:
            return None
        raise KeyError(sid)

    def _set_case(self, state: str, reason: str | None) -> None:
        self._status.state, self._status.reason = state, reason

    def _event(self, kind: str, step: str | None, detail: str) -> None:
        self._status.events.append(CaseEvent(time=workflow.now().isoformat(), kind=kind, step=step, detail=detail))

    async def _record_case(self) -> None:
        if not self._showable():
            return  # recorded with the closing record
        self._status.revision += 1  # the store keeps only the newest of concurrent records
        self._unrecorded = False
        if not self._one_activity:
            await workflow.execute_activity(
                RECORD_CASE, self._status, task_queue=self._case.queues.engine, start_to_close_timeout=RECORD_TIMEOUT
            )
            return
        await workflow.execute_local_activity(RECORD_CASE, self._status, start_to_close_timeout=RECORD_TIMEOUT)
