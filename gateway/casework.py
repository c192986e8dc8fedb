"""Case services: open a case and start its workflow, read it back, build its evidence."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from chain.anchors import Anchor
from chain.audit.evidence import AgencyClaim, ChainRef, EvidenceBundle, EvidenceItem
from chain.handoff import CLOSING_STEP, SignedHandoff, case_commitment, new_salt
from gateway.deployment import DeploymentFile
from gateway.erasure import shown, texts_of
from gateway.schemas import CasePublic, ErasurePublic, StepPublic
from gateway.store import Case, CaseKey, Erasure, HandoffRow, IdempotentRequest, QueueItem, User, Vault, utcnow
from workflows.flows import FlowDef
from workflows.messages import CASE_WORKFLOW, ENGINE, ENGINE_QUEUE, CaseInput, CaseStatus, StepStatus

PREFIX = {  # a case id says what it is about at a glance
    "business_registration": "BR",
    "health_card": "HC",
    "health_card_visit": "HV",
    "health_card_revocation": "HR",
}
TERMINAL = {"completed", "rejected", "failed", "withdrawn"}


class CaseNotStarted(Exception):
    """The workflow engine did not accept the case; nothing was kept."""


class IdempotencyKeyReused(Exception):
    """The applicant's Idempotency-Key came with another request before."""


class CaseStartUnconfirmed(Exception):
    """The start failed and the engine could not say whether it had accepted it: the case is kept
    (a workflow may be running for it), never deleted on a guess."""

    def __init__(self, case_id: str, reason: str):
        super().__init__(reason)
        self.case_id = case_id


def new_case_id(flow: str) -> str:
    return f"{PREFIX.get(flow, 'CS')}-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(4).upper()}"


def request_hash(application: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(application, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _replayed(session: Session, user: User, key: str, application: dict[str, Any]) -> Case | None:
    """The case a request with this Idempotency-Key opened before, if any (the same request)."""
    row = session.get(IdempotentRequest, (user.id, key))
    if row is None:
        return None
    if row.request_hash != request_hash(application):
        raise IdempotencyKeyReused(f"the Idempotency-Key {key!r} was sent before with another application")
    return session.get(Case, row.case_id)


async def open_case(
    session: Session,
    temporal: Client,
    vault: Vault,
    user: User,
    flow: FlowDef,
    application: dict[str, Any],
    title: str,
    idempotency_key: str | None = None,
    kept: dict[str, Any] | None = None,
) -> tuple[Case, bool]:
    """Keep the case, then start its workflow under the case id; returns the case and whether it
    is new. With ``idempotency_key``, a repeat of a request this applicant sent before returns the
    case it opened (``IdempotencyKeyReused`` if the key came with another application); two at once
    open one case between them. When the start fails, the engine is asked whether it holds the
    workflow all the same (a lost reply): only if it does not is the case deleted
    (``CaseNotStarted``); if it cannot say, the case is kept (``CaseStartUnconfirmed``)."""
    if idempotency_key is not None and (earlier := _replayed(session, user, idempotency_key, application)):
        return earlier, False
    case_id = new_case_id(flow.name)
    salt = new_salt()
    case = Case(
        id=case_id,
        applicant_id=user.id,
        flow=flow.name,
        title=title,
        flow_version=flow.version_hash(),
        flow_definition=flow.model_dump(mode="json"),
        salt=salt,
        commitment=case_commitment(case_id, salt),
        application_enc=b"",
    )
    vault.seal(session, case, application if kept is None else kept)  # ``kept``: what the store may hold of it
    session.add(case)
    if idempotency_key is not None:
        session.add(
            IdempotentRequest(
                user_id=user.id, key=idempotency_key, request_hash=request_hash(application), case_id=case_id
            )
        )
    try:
        session.commit()
    except IntegrityError:  # the same key at the same moment: the other request's case stands
        session.rollback()
        earlier = _replayed(session, user, idempotency_key, application) if idempotency_key else None
        if earlier is None:
            raise
        return earlier, False
    try:
        await temporal.start_workflow(
            CASE_WORKFLOW,
            CaseInput(
                case_id=case_id,
                applicant=user.username,
                flow=flow,
                application=application,
                commitment=case.commitment,
                engine=ENGINE,
            ),
            id=case_id,
            task_queue=ENGINE_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # one case, one workflow run, ever
        )
    except WorkflowAlreadyStartedError:
        pass  # a retried start after a lost reply: the first one was accepted
    except Exception as exc:
        if not await _started(temporal, case_id, exc):
            session.delete(session.get(CaseKey, case_id))
            if idempotency_key is not None:
                session.delete(session.get(IdempotentRequest, (user.id, idempotency_key)))
            session.flush()  # the rows naming the case go first
            session.delete(case)
            session.commit()
            raise CaseNotStarted(str(exc)) from exc
    session.refresh(case)
    return case, True


async def _started(temporal: Client, case_id: str, error: Exception) -> bool:
    """Whether the engine holds a workflow for ``case_id`` although its start failed (the reply was
    lost, or came too late). The workflow id is the case id, so asking the engine settles it."""
    try:
        await temporal.get_workflow_handle(case_id).describe()
    except Exception as exc:
        if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise CaseStartUnconfirmed(case_id, f"{error}; and the engine could not say whether it started: {exc}") from exc
    return True


def handoffs_of(session: Session, case_id: str) -> list[HandoffRow]:
    query = select(HandoffRow).where(HandoffRow.case_id == case_id)
    return list(session.exec(query.order_by(HandoffRow.block_number, HandoffRow.log_index)).all())


_FLOWS: dict[str, FlowDef] = {}  # definitions by version hash: a version names one definition for good


def flow_of(case: Case) -> FlowDef:
    """The flow definition a case runs, parsed once per version (every status read needs it)."""
    flow = _FLOWS.get(case.flow_version)
    if flow is None:
        flow = FlowDef.model_validate(case.flow_definition)
        if flow.version_hash() == case.flow_version and len(_FLOWS) < 1024:  # kept only under its true hash
            _FLOWS[case.flow_version] = flow
    return flow


class _Texts:
    """The reasons kept under a case's key, read from the store only if a value shows a token."""

    def __init__(self, session: Session, vault: Vault | None, case_id: str):
        self._load = lambda: texts_of(session, vault, case_id)
        self._texts: dict[str, str] | None = None

    def get(self, commitment: str, default: str) -> str:
        if self._texts is None:
            self._texts = self._load()
        return self._texts.get(commitment, default)


def case_view(session: Session, case: Case, vault: Vault | None = None) -> CasePublic:
    """A case as the store holds it: the engine records every handoff with the case's status after
    it, so a read costs the engine nothing. A step the record still shows waiting although all it
    depends on is done has started since: it is shown running. With ``vault``, the reasons kept
    under the case's key are shown in place of their tokens (``gateway.erasure``)."""
    status = CaseStatus.model_validate(case.snapshot) if case.snapshot else None
    texts = _Texts(session, vault, case.id)
    anchors: dict[str, HandoffRow] = {}
    for r in handoffs_of(session, case.id):  # the latest handoff of each step, by ledger order
        anchors[r.step] = r
    steps = []
    flow = flow_of(case)
    live = {s.step: s for s in status.steps} if status else {}
    done = {sid for sid, st in live.items() if st.state in ("completed", "skipped")} | (set() if live else set(anchors))
    for s in flow.steps:
        row = anchors.get(s.id)
        base = live.get(s.id) or StepStatus(
            step=s.id,
            title=s.title,
            agency=s.agency,
            sla_minutes=s.sla_minutes,
            state="completed" if row else "waiting",
        )
        if case.status == "running" and base.state == "waiting" and all(d in done for d in s.depends_on):
            base = base.model_copy(update={"state": "running"})
        fields = {**base.model_dump(), "reason": shown(texts, base.reason)}
        steps.append(
            StepPublic(**{**fields, "handoff": row.hash if row else None, "anchor": row.anchor if row else None})
        )
    erasure = session.get(Erasure, case.id)
    return CasePublic(
        case_id=case.id,
        flow=case.flow,
        flow_version=case.flow_version,
        status=case.status,
        reason=shown(texts, case.reason),
        company_name=case.result.get("company_name") or case.title,
        uscc=case.result.get("uscc"),
        result=case.result,
        steps=steps,
        events=[{**e.model_dump(), "detail": shown(texts, e.detail)} for e in status.events] if status else [],
        closing=anchors[CLOSING_STEP].hash if CLOSING_STEP in anchors else None,
        erased=ErasurePublic.model_validate(erasure, from_attributes=True) if erasure else None,
        created_at=case.created_at,
        updated_at=case.updated_at,
    )


def evidence_bundle(
    session: Session, case: Case, deployment: DeploymentFile, registry: list[dict[str, Any]]
) -> EvidenceBundle:
    return EvidenceBundle(
        case_id=case.id,
        salt=case.salt,
        commitment=case.commitment,
        flow=case.flow_definition,
        chain=ChainRef(**deployment.chain.to_json()),
        agencies={name: AgencyClaim(**claim) for name, claim in deployment.agencies.items()},
        registry=registry,
        handoffs=[
            EvidenceItem(handoff=SignedHandoff.model_validate(r.signed), anchor=Anchor.model_validate(r.anchor))
            for r in handoffs_of(session, case.id)
        ],
        exported_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def record_handoff(
    session: Session, case_id: str, handoff: SignedHandoff, anchor: Anchor, status: CaseStatus | None = None
) -> None:
    """Keep a handoff and its anchor off-chain, and with ``status`` the case's status after it, in
    one transaction; a repeated delivery changes nothing."""
    record_handoffs(session, case_id, [(handoff, anchor)], status)


def record_handoffs(
    session: Session, case_id: str, anchored: list[tuple[SignedHandoff, Anchor]], status: CaseStatus | None = None
) -> None:
    """Keep handoffs and their anchors off-chain, and with ``status`` the case's status after
    them, in one transaction; a repeated delivery changes nothing."""
    if status is not None:
        _keep_status(session, status)
    for handoff, anchor in anchored:
        if session.get(HandoffRow, handoff.hash) is None:
            session.add(
                HandoffRow(
                    hash=handoff.hash,
                    case_id=case_id,
                    step=handoff.record.step,
                    agency=handoff.record.agency,
                    outcome=handoff.record.outcome,
                    signed=handoff.model_dump(mode="json"),
                    anchor=anchor.model_dump(mode="json"),
                    block_number=anchor.block_number,
                    log_index=anchor.log_index,
                )
            )
    session.commit()


def record_case(session: Session, status: CaseStatus) -> None:
    """Keep the newest status of a case and rebuild its entries in the clerks' queues."""
    _keep_status(session, status)
    session.commit()


def _keep_status(session: Session, status: CaseStatus) -> None:
    case = session.get(Case, status.case_id, with_for_update=True)
    if case is None:
        raise LookupError(f"no case {status.case_id}")
    if status.revision <= case.revision:
        return  # an older record delivered late: the newer one stands
    if session.get(Erasure, case.id) is not None:
        return  # the engine's last record after an erasure: what it would put back was erased
    queued = any(st.get("state") == "awaiting_decision" for st in (case.snapshot or {}).get("steps", []))
    case.status, case.reason, case.result, case.revision = status.state, status.reason, status.result, status.revision
    case.snapshot, case.updated_at = status.model_dump(mode="json"), utcnow()
    session.add(case)
    if queued:  # the queue holds a case only while its recorded status awaits a decision (made below)
        for item in session.exec(select(QueueItem).where(QueueItem.case_id == case.id)).all():
            session.delete(item)
    for st in status.steps:
        if st.state == "awaiting_decision" and st.since and st.deadline:
            session.add(
                QueueItem(
                    case_id=case.id,
                    step=st.step,
                    agency=st.agency,
                    title=st.title,
                    since=datetime.fromisoformat(st.since),
                    deadline=datetime.fromisoformat(st.deadline),
                    escalated=st.escalated,
                    reasons=st.review_reasons,
                )
            )


def escalations(session: Session, agency: str) -> list[dict[str, Any]]:
    """Open cases with a step of ``agency`` past its SLA: what the agency's supervisors chase."""
    found = []
    for case in session.exec(select(Case).where(Case.status.in_(("running", "returned")))).all():
        for st in (case.snapshot or {}).get("steps", []):
            if (
                st["agency"] == agency
                and st.get("escalated")
                and st["state"] not in ("completed", "skipped", "cancelled")
            ):
                found.append(
                    {
                        "case_id": case.id,
                        "title": case.title,
                        "step": st["step"],
                        "state": st["state"],
                        "since": st.get("since"),
                        "deadline": st.get("deadline"),
                    }
                )
    return sorted(found, key=lambda e: e["deadline"] or "")
