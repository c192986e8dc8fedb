from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, status
from sqlmodel import select

from gateway.api.deps import CaseDep, TemporalDep
from gateway.auth import CurrentUser, SessionDep, require
from gateway.cases import CaseNotStarted, case_view, evidence_bundle, open_case
from gateway.schemas import CasePublic, CaseSummary, RegistrationApplication
from gateway.store import Case
from workflows.catalog import get_flow

router = APIRouter(prefix="/api/cases", tags=["cases"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CasePublic,
             dependencies=[require("applicant")])
async def apply(application: RegistrationApplication, session: SessionDep, temporal: TemporalDep,
                user: CurrentUser) -> CasePublic:
    flow = get_flow(application.flow)
    try:
        case = await open_case(session, temporal, user, flow, application.model_dump(mode="json"))
    except CaseNotStarted as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the case could not be started, nothing was kept: {exc}") from exc
    return await case_view(session, temporal, case)


@router.get("", response_model=list[CaseSummary])
def list_cases(session: SessionDep, user: CurrentUser) -> list[CaseSummary]:
    query = select(Case).order_by(Case.created_at.desc())
    if user.role == "applicant":
        query = query.where(Case.applicant_id == user.id)
    return [CaseSummary(case_id=c.id, flow=c.flow, status=c.status, created_at=c.created_at)
            for c in session.exec(query.limit(500)).all()]


@router.get("/{case_id}", response_model=CasePublic)
async def get_case(case: CaseDep, session: SessionDep, temporal: TemporalDep) -> CasePublic:
    return await case_view(session, temporal, case)


@router.get("/{case_id}/evidence", dependencies=[require("auditor", "admin")])
def evidence(case: CaseDep, session: SessionDep, request: Request) -> dict:
    """The evidence bundle an auditor re-verifies offline or against the ledger."""
    deployment, agencies = request.app.state.deployment
    return evidence_bundle(session, case, deployment, agencies).model_dump(mode="json")
