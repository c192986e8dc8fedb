"""The documents the agencies issued on a business registration, for its applicant to download.

``GET /api/v1/cases/{case_id}/documents`` lists, per step whose latest handoff completed it and that
issues something, the document: its kind, title in Chinese and English, the issuing agency, the
handoff it rests on and that handoff's ledger anchor, and where to download it. The licence's entry
points at the e-licence (``GET /api/v1/public/licences/{code}/document.pdf``, which needs the
application, so it is not listed once the case's personal data is erased); every other entry at
``GET /api/v1/cases/{case_id}/documents/{step}.pdf``, the certificate rendered from the signed
handoff's outputs (``agencies.certificates``): business data only, so no read of the application
is made or logged, and it stays available after an erasure, as the trail does.

Who: the case's applicant; a clerk of the agency that issued a document, that document only (the
list shows them theirs); auditors and admins, who read no one's papers, none (403)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from agencies.certificates import KINDS, Certificate, agency_name, render_certificate
from chain.handoff import SignedHandoff
from gateway.api.deps import CaseDep, CurrentUser, SessionDep
from gateway.casework import handoffs_of
from gateway.store import Case, Erasure, HandoffRow, User
from workflows.flows import FlowDef

router = APIRouter(prefix="/api/v1/cases", tags=["documents"])

FLOW = "business_registration"
LICENCE_STEP = "business_licence"
DECISIVE = {"completed", "rejected", "compensated"}  # an escalation changes nothing a step issued
StepName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="a step of the flow, e.g. seal_approval")]


class DocumentPublic(BaseModel):
    step: str
    kind: str = Field(description="business_licence, seal_filing, tax_registration, social_security, …")
    title_zh: str
    title_en: str
    agency: str
    agency_name: str
    issued_at: str = Field(description="when the agency signed the handoff (RFC 3339, UTC)")
    handoff: str = Field(description="the hash of the signed handoff the document rests on")
    anchor: dict = Field(description="that handoff's ledger anchor (block, transaction…)")
    url: str = Field(description="where to download the PDF")


def latest(session: Session, case: Case) -> dict[str, HandoffRow]:
    """Each step's latest decisive handoff, by ledger order."""
    out: dict[str, HandoffRow] = {}
    for row in handoffs_of(session, case.id):
        if row.outcome in DECISIVE:
            out[row.step] = row
    return out


def _record(row: HandoffRow) -> dict:
    return SignedHandoff.model_validate(row.signed).record.model_dump(mode="json")


def _document(case: Case, row: HandoffRow, licence: dict) -> DocumentPublic:
    record = _record(row)
    if row.step == LICENCE_STEP:
        kind, zh, en = "business_licence", "营业执照", "Business licence (e-licence)"
        url = f"/api/v1/public/licences/{licence['uscc']}/document.pdf"
    else:
        k = KINDS[row.step]
        kind, zh, en = k.kind, k.title_zh, k.title_en
        url = f"/api/v1/cases/{case.id}/documents/{row.step}.pdf"
    return DocumentPublic(
        step=row.step,
        kind=kind,
        title_zh=zh,
        title_en=en,
        agency=row.agency,
        agency_name=" ".join(agency_name(row.agency)),
        issued_at=record["time"],
        handoff=row.hash,
        anchor=row.anchor,
        url=url,
    )


def _no_papers(user: User) -> None:
    if user.role in ("auditor", "admin"):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "the documents an agency issued are the applicant's: "
            "auditors verify trails (GET /api/v1/cases/ID/evidence)",
        )


@router.get("/{case_id}/documents", response_model=list[DocumentPublic])
def documents(case: CaseDep, session: SessionDep, user: CurrentUser) -> list[DocumentPublic]:
    """The documents issued on this case so far, in the order of the flow's steps."""
    _no_papers(user)
    if case.flow != FLOW:
        return []
    found = latest(session, case)
    licence_row = found.get(LICENCE_STEP)
    if licence_row is None or licence_row.outcome != "completed":
        return []  # nothing is issued without a licence, and a revoked one undoes the rest
    licence = _record(licence_row)["outputs"]
    erased = session.get(Erasure, case.id) is not None
    out = []
    for step in FlowDef.model_validate(case.flow_definition).steps:
        row = found.get(step.id)
        if row is None or row.outcome != "completed" or (step.id not in KINDS and step.id != LICENCE_STEP):
            continue
        if user.role == "clerk" and row.agency != user.agency:
            continue
        if step.id == LICENCE_STEP and (user.role != "applicant" or erased):
            continue  # the e-licence prints the application: its applicant's, while it is kept
        out.append(_document(case, row, licence))
    return out


@router.get(
    "/{case_id}/documents/{step}.pdf",
    response_class=Response,
    responses={
        200: {"content": {"application/pdf": {}}, "description": "the certificate"},
        307: {"description": "the business licence: the e-licence's own address"},
    },
)
def document(case: CaseDep, step: StepName, session: SessionDep, user: CurrentUser) -> Response:
    """The certificate ``step`` issued on this case, as a PDF, from its signed handoff's outputs."""
    _no_papers(user)
    flow = FlowDef.model_validate(case.flow_definition)
    owner = next((s.agency for s in flow.steps if s.id == step), None)
    if case.flow != FLOW or owner is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"step {step!r}: no such step in {case.id}'s flow ({case.flow})")
    if step not in KINDS and step != LICENCE_STEP:
        issuing = ", ".join([LICENCE_STEP, *KINDS])
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"step {step!r} issues no document (those that do: {issuing})")
    if user.role == "clerk" and user.agency != owner:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"step {step!r} is {owner}'s: only its clerks and the applicant download it"
        )
    found = latest(session, case)
    row, licence_row = found.get(step), found.get(LICENCE_STEP)
    if row is None or row.outcome == "rejected" or licence_row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"step {step!r} has issued nothing on case {case.id} (yet)")
    if row.outcome == "compensated" or licence_row.outcome == "compensated":
        undone = _record(row if row.outcome == "compensated" else licence_row)["time"][:10]
        raise HTTPException(
            status.HTTP_410_GONE, f"step {step!r}'s document was undone on {undone} (the case was withdrawn)"
        )
    licence = _record(licence_row)["outputs"]
    if step == LICENCE_STEP:
        return RedirectResponse(
            f"/api/v1/public/licences/{licence['uscc']}/document.pdf", status.HTTP_307_TEMPORARY_REDIRECT
        )
    cert = Certificate.issued(_record(row), row.anchor, licence, case.id)
    return Response(
        render_certificate(cert),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{cert.filename}"', "Cache-Control": "no-store"},
    )
