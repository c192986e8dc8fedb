from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlmodel import Session

from chain.audit.evidence import EvidenceBundle
from chain.client import LedgerClient
from chain.errors import ChainError
from gateway.access import fields_for, log_read, may_see, reads_of, steps_held, visible_cases
from gateway.accounts import token_user
from gateway.api.credit import check_company
from gateway.api.deps import (
    CaseDep,
    CurrentUser,
    DeploymentDep,
    SessionDep,
    SettingsDep,
    SignerDep,
    TemporalDep,
    VaultDep,
    blocking,
    oauth2,
    require,
    unprocessable,
)
from gateway.api.updates import send_update
from gateway.casework import (
    TERMINAL,
    CaseNotStarted,
    CaseStartUnconfirmed,
    IdempotencyKeyReused,
    case_view,
    evidence_bundle,
    open_case,
)
from gateway.erasure import CaseErased, drop_text, keep_text, shown
from gateway.proving import cosigned, proofs_for
from gateway.residents import bind_resident
from gateway.schemas import (
    Application,
    ApplicationReadPublic,
    CasePublic,
    CaseSummary,
    HealthCardApplication,
    Purpose,
    UpdateOut,
    WithdrawalIn,
)
from gateway.store import Case
from workflows.catalog import get_flow
from workflows.flows import extract
from workflows.messages import CORRECT_UPDATE, WITHDRAW_UPDATE, Correction, Withdrawal

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CasePublic, dependencies=[require("applicant")])
async def apply(
    application: Application,
    session: SessionDep,
    temporal: TemporalDep,
    vault: VaultDep,
    user: CurrentUser,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=8,
            max_length=128,
            pattern=r"^[A-Za-z0-9._:-]+$",
            description="a key of your choosing, unique per application: a retry with the same key and the "
            "same application returns the case the first request opened, never a second case",
        ),
    ] = None,
) -> CasePublic:
    flow = get_flow(application.flow)
    if isinstance(application, HealthCardApplication):
        bind_resident(session, vault, user, application.resident.id_number)
    check_company(session, user, application)  # SME credit: a company the applicant registered
    try:
        case, new = await open_case(
            session,
            temporal,
            vault,
            user,
            flow,
            application.stored(),
            title=application.title(),
            idempotency_key=idempotency_key,
        )
    except IdempotencyKeyReused as exc:
        raise unprocessable(("header", "idempotency-key"), f"Idempotency-Key: {exc}", value=idempotency_key) from exc
    except CaseNotStarted as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the case could not be started, nothing was kept: {exc}"
        ) from exc
    except CaseStartUnconfirmed as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"case {exc.case_id} is kept, but the workflow engine did not confirm it started ({exc}); "
            f"look at GET /api/v1/cases/{exc.case_id} before applying again",
        ) from exc
    if not new:
        response.headers["Idempotent-Replayed"] = "true"
    return case_view(session, case, vault)


@router.get("", response_model=list[CaseSummary])
def list_cases(session: SessionDep, vault: VaultDep, user: CurrentUser) -> list[CaseSummary]:
    """The newest 500 cases you may see (an applicant their own, a clerk those their agency holds a
    step of); a summary holds no personal data."""
    return [
        CaseSummary(case_id=c.id, flow=c.flow, status=c.status, created_at=c.created_at)
        for c in visible_cases(session, user, vault)
    ]


@router.get("/{case_id}", response_model=CasePublic)
async def get_case(case: CaseDep, session: SessionDep, request: Request) -> CasePublic:
    """The case as the store holds it (the engine records each step as it ends): no engine round trip."""
    return await blocking(request, case_view, session, case, request.app.state.vault)


def watched_case(case_id: str, request: Request, token: Annotated[str | None, Depends(oauth2)]) -> str:
    """The case id, if the signed-in user may see the case; checked on a session closed again at
    once, so that a stream holds no database connection while it waits."""
    with Session(request.app.state.engine) as session:
        user = token_user(session, token) if token else None
        if user is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "not signed in, or the session expired")
        case = session.get(Case, case_id)
        if case is None or not may_see(case, user, request.app.state.vault, session):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}")
    return case_id


def _view(engine, vault, case_id: str) -> CasePublic:
    with Session(engine) as session:
        return case_view(session, session.get(Case, case_id), vault)


@router.get(
    "/{case_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"description": "`case` events, each the whole case as GET /api/v1/cases/{id} gives it"}},
)
async def case_events(
    case_id: Annotated[str, Depends(watched_case)], request: Request
) -> AsyncIterable[ServerSentEvent]:
    """The case now, then again each time it changes, until it ends (server-sent events)."""
    feed, engine, last = request.app.state.case_feed, request.app.state.engine, None
    async with feed.watch(case_id) as changed:
        while True:
            view = await asyncio.to_thread(_view, engine, request.app.state.vault, case_id)
            if view != last:
                yield ServerSentEvent(event="case", data=view.model_dump(mode="json"))
                last = view
            if view.status in TERMINAL:
                return
            await changed.wait()
            changed.clear()


@router.get("/{case_id}/evidence", response_model=EvidenceBundle, dependencies=[require("auditor", "admin")])
def evidence(
    case: CaseDep, session: SessionDep, deployment: DeploymentDep, settings: SettingsDep, request: Request
) -> EvidenceBundle:
    """The evidence bundle an auditor re-verifies offline or against the ledger: with the header and
    state proofs of each block its handoffs were anchored in, and the agencies' checkpoints over
    those blocks (``gateway.proving``), so that it verifies offline under a trust root."""
    try:
        registry = LedgerClient(settings.ledger_rpc, deployment.chain).registry_events()
        bundle = proofs_for(evidence_bundle(session, case, deployment, registry), settings.ledger_rpc, deployment)
    except ChainError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the ledger did not answer: {exc}") from exc
    return anyio.from_thread.run(cosigned, bundle, request.app.state.temporal, deployment)


NO_PERSONAL_DATA = {
    "auditor": "auditors verify trails; they do not read personal data",
    "admin": "admins operate the system; they do not read personal data",
}


@router.get("/{case_id}/application", response_model=dict[str, Any])
def application(
    case: CaseDep,
    session: SessionDep,
    vault: VaultDep,
    user: CurrentUser,
    purpose: Annotated[
        Purpose | None, Query(description="why you read it, 2-200 characters; required of everyone but the applicant")
    ] = None,
) -> dict:
    """The application as submitted (personal data): all of it for its applicant; for a clerk, only
    the fields the steps their agency holds on the case read. Every read is logged (who, why,
    which fields) before the data leaves, and the applicant can list the log (``/reads``)."""
    if user.role in NO_PERSONAL_DATA:
        raise HTTPException(status.HTTP_403_FORBIDDEN, NO_PERSONAL_DATA[user.role])
    if user.role != "applicant" and purpose is None:
        raise RequestValidationError(
            [
                {
                    "type": "missing",
                    "loc": ("query", "purpose"),
                    "input": None,
                    "msg": "say why you read this application (2-200 characters): "
                    "every read is logged and shown to the applicant",
                }
            ]
        )
    data = vault.open(session, case)
    if data is None:
        raise HTTPException(status.HTTP_410_GONE, "this application's personal data has been erased")
    if user.role == "applicant":
        fields = sorted(data)
    else:
        fields = fields_for(steps_held(case, user.agency, vault, session))
        if not fields:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"the steps {user.agency} holds on {case.id} declare no application fields they read",
            )
    log_read(session, case, user, purpose, fields)
    return data if user.role == "applicant" else extract(data, fields)


@router.get(
    "/{case_id}/reads", response_model=list[ApplicationReadPublic], dependencies=[require("applicant", "auditor")]
)
def reads(case: CaseDep, session: SessionDep) -> list[ApplicationReadPublic]:
    """Every read of this case's application, oldest first: who, in which role and agency, why,
    when and which fields (for the applicant of the case, and auditors)."""
    return [
        ApplicationReadPublic(
            reader=r.username, role=r.role, agency=r.agency, purpose=r.purpose, fields=r.fields, read_at=r.read_at
        )
        for r in reads_of(session, case)
    ]


def _own(case: Case, user) -> None:
    if case.applicant_id != user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only the applicant may do this")


@router.post("/{case_id}/correction", response_model=UpdateOut, dependencies=[require("applicant")])
async def correct(
    body: Application,
    case: CaseDep,
    session: SessionDep,
    temporal: TemporalDep,
    signer: SignerDep,
    vault: VaultDep,
    user: CurrentUser,
) -> UpdateOut:
    """Resubmit a returned application; the returned step and its dependants run again."""
    _own(case, user)
    if body.flow != case.flow:
        raise unprocessable(("body", "flow"), f"flow: this case is a {case.flow}, not a {body.flow}", value=body.flow)
    if isinstance(body, HealthCardApplication):
        bind_resident(session, vault, user, body.resident.id_number)
    data = body.stored()
    case.title = body.title()
    result = await send_update(
        temporal, signer, case.id, CORRECT_UPDATE, Correction(applicant=user.username, application=data), user
    )
    vault.seal(session, case, data)
    session.add(case)
    session.commit()
    return UpdateOut(case_id=case.id, detail=result.detail)


@router.post("/{case_id}/withdrawal", response_model=UpdateOut, dependencies=[require("applicant")])
async def withdraw(
    body: WithdrawalIn,
    case: CaseDep,
    session: SessionDep,
    temporal: TemporalDep,
    signer: SignerDep,
    vault: VaultDep,
    user: CurrentUser,
) -> UpdateOut:
    """Withdraw the case: completed steps are undone in reverse order, each a signed handoff. The
    reason reaches the engine and the trail as a salted commitment; its text stays here, under the
    case's key."""
    _own(case, user)
    commitment = kept_reason(session, vault, case, "withdrawal", body.reason)
    withdrawal = Withdrawal(applicant=user.username, reason_commitment=commitment)
    try:
        result = await send_update(temporal, signer, case.id, WITHDRAW_UPDATE, withdrawal, user)
    except HTTPException:
        drop_text(session, commitment)
        raise
    return UpdateOut(case_id=case.id, detail=shown({commitment: body.reason}, result.detail))


def kept_reason(session: SessionDep, vault: VaultDep, case: Case, kind: str, text: str) -> str:
    """Seal ``text`` under the case's key and return its commitment; 410 once the case is erased."""
    try:
        return keep_text(session, vault, case, kind, text)
    except CaseErased as exc:
        raise HTTPException(status.HTTP_410_GONE, str(exc)) from exc
