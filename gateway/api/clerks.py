"""Clerks: their agency's queue and their decisions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from sqlmodel import select

from gateway.api.cases import kept_reason
from gateway.api.deps import (
    CaseDep,
    CurrentUser,
    SessionDep,
    SignerDep,
    TemporalDep,
    VaultDep,
    require,
    unprocessable,
)
from gateway.api.updates import send_update
from gateway.casework import escalations
from gateway.erasure import drop_text, shown
from gateway.schemas import DecisionIn, Escalation, QueueEntry, UpdateOut
from gateway.store import Case, QueueItem
from workflows.messages import DECIDE_UPDATE, Decision

router = APIRouter(prefix="/api/v1", tags=["clerks"])


@router.get("/queue", response_model=list[QueueEntry], dependencies=[require("clerk", "admin")])
def queue(
    session: SessionDep,
    user: CurrentUser,
    agency: Annotated[str | None, Query(description="default: your agency")] = None,
) -> list[QueueEntry]:
    """The steps waiting for a decision by this agency: nearest SLA first, then oldest."""
    agency = agency or user.agency
    if agency is None:
        raise unprocessable(("query", "agency"), "name the agency: ?agency=NAME", "missing")
    if user.role == "clerk" and agency != user.agency:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"you are a clerk of {user.agency}, not of {agency}")
    rows = session.exec(
        select(QueueItem, Case)
        .join(Case, Case.id == QueueItem.case_id)
        .where(QueueItem.agency == agency)
        .order_by(QueueItem.deadline, QueueItem.since)
    ).all()
    return [
        QueueEntry(
            case_id=q.case_id,
            step=q.step,
            title=q.title,
            agency=q.agency,
            since=q.since,
            deadline=q.deadline,
            escalated=q.escalated,
            reasons=q.reasons,
            company_name=c.title,
        )
        for q, c in rows
    ]


@router.get("/escalations", response_model=list[Escalation], dependencies=[require("clerk", "admin")])
def list_escalations(
    session: SessionDep,
    user: CurrentUser,
    agency: Annotated[str | None, Query(description="default: your agency")] = None,
) -> list[dict]:
    """Open cases with a step of this agency past its SLA, most overdue first."""
    agency = agency or user.agency
    if agency is None:  # as for the queue: an admin names the agency
        raise unprocessable(("query", "agency"), "name the agency: ?agency=NAME", "missing")
    if user.role == "clerk" and agency != user.agency:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "clerks see their own agency's escalations")
    return escalations(session, agency)


@router.post("/cases/{case_id}/decision", response_model=UpdateOut, dependencies=[require("clerk")])
async def decide(
    body: DecisionIn,
    case: CaseDep,
    session: SessionDep,
    temporal: TemporalDep,
    signer: SignerDep,
    vault: VaultDep,
    user: CurrentUser,
) -> UpdateOut:
    """Approve or reject the step your agency holds on this case (a reject needs a reason)."""
    step = body.step
    if step is None:
        item = session.exec(
            select(QueueItem).where(QueueItem.case_id == case.id, QueueItem.agency == user.agency)
        ).first()
        if item is None:
            raise HTTPException(status.HTTP_409_CONFLICT, f"no step of {user.agency} awaits a decision on {case.id}")
        step = item.step
    approve = body.decision == "approve"
    text = (body.reason or "").strip()
    # A reason reaches the engine and the trail only as a salted commitment; the text stays here,
    # under the case's key (gateway.erasure). An empty reject goes as it is: the engine refuses it.
    kind = "approval" if approve else "rejection"  # an approval's reason is in no handoff, only in the case's events
    commitment = kept_reason(session, vault, case, kind, text) if text else None
    decision = Decision(
        step=step,
        approve=approve,
        reason=None if commitment else body.reason,
        reason_commitment=commitment,
        clerk=user.username,
        clerk_agency=user.agency or "",
    )
    try:
        result = await send_update(temporal, signer, case.id, DECIDE_UPDATE, decision, user)
    except HTTPException:
        if commitment:
            drop_text(session, commitment)
        raise
    return UpdateOut(case_id=case.id, detail=shown({commitment: text} if commitment else {}, result.detail))
