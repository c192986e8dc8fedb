"""The business licence in public: anyone checks it, its holder downloads it.

``GET /api/public/licences/{code}``: anyone (a bank, a landlord, the QR code on an e-licence) asks
whether a business licence is genuine and valid. No sign-in; rate-limited per address.

``GET /api/public/licences/{code}/document.pdf``: the e-licence (PDF, with the QR code of that
check) for the applicant of the case the licence was issued to, and no one else: it shows the
legal representative and the domicile from the application. A revoked licence has no document
(410, saying when it was revoked); each download is logged as a read of the application.

The answers come from the signed trail in the store: a completed business-licence handoff issued
the code; a compensation of that step (a withdrawal) revoked it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from sqlmodel import Session, select

from agencies.identifiers import IdentifierError, validate_uscc
from agencies.licence_document import LicenceDocument, render_licence
from agencies.register import LicenceStatus
from chain.handoff import SignedHandoff
from gateway.access import log_read
from gateway.api.deps import CurrentUser, PublicLimitDep, SessionDep, VaultDep, require
from gateway.store import Case, HandoffRow

router = APIRouter(prefix="/api/public", tags=["public"])

LICENCE_STEP = "business_licence"
DOCUMENT_READS = ["company", "legal_representative.name", "shareholders"]  # what the document shows or counts


class LicenceCheck(BaseModel):
    code: str
    format_valid: bool
    status: Literal["valid", "revoked", "unknown"]
    company_name: str | None = None
    issued_on: str | None = None
    revoked_on: str | None = None


def licence_status(session: Session, code: str) -> tuple[LicenceStatus, str | None]:
    """The licence as the signed trail has it, and the case it was issued to (None: not issued here)."""
    try:
        code = validate_uscc(code)
    except IdentifierError:
        return LicenceStatus(code[:64], False, "unknown"), None
    issued = session.exec(
        select(HandoffRow).where(
            HandoffRow.step == LICENCE_STEP,
            HandoffRow.outcome == "completed",
            HandoffRow.signed[("record", "outputs", "uscc")].as_string() == code,
        )
    ).first()
    if issued is None:
        return LicenceStatus(code, True, "unknown"), None
    outputs = SignedHandoff.model_validate(issued.signed).record.outputs
    revoked = session.exec(
        select(HandoffRow).where(
            HandoffRow.case_id == issued.case_id, HandoffRow.step == LICENCE_STEP, HandoffRow.outcome == "compensated"
        )
    ).first()
    revoked_on = SignedHandoff.model_validate(revoked.signed).record.time[:10] if revoked else None
    found = LicenceStatus(
        code,
        True,
        "revoked" if revoked else "valid",
        outputs.get("company_name"),
        outputs.get("licence_date"),
        revoked_on,
    )
    return found, issued.case_id


@router.get(
    "/licences/{code}", response_model=LicenceCheck, response_model_exclude_none=True, dependencies=[PublicLimitDep]
)
def check_licence(code: str, session: SessionDep) -> LicenceCheck:
    found, _case = licence_status(session, code)
    return LicenceCheck(**found.to_json())


@router.get(
    "/licences/{code}/document.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the e-licence"}},
    dependencies=[PublicLimitDep, require("applicant")],
)
def licence_document(code: str, request: Request, session: SessionDep, vault: VaultDep, user: CurrentUser) -> Response:
    """The e-licence as a PDF, for the applicant of the case it was issued to."""
    found, case_id = licence_status(session, code)
    if not found.format_valid:
        raise RequestValidationError(
            [
                {
                    "type": "value_error",
                    "loc": ("path", "code"),
                    "input": found.code,
                    "msg": "not a unified social credit code (GB 32100-2015: 18 characters, check character last)",
                }
            ]
        )
    case = session.get(Case, case_id) if case_id else None
    if case is None or case.applicant_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no business licence {found.code} was issued to your cases")
    if found.status != "valid":
        raise HTTPException(
            status.HTTP_410_GONE,
            f"the business licence {found.code} was revoked on {found.revoked_on} (its case was withdrawn): "
            f"a revoked licence has no document; GET /api/public/licences/{found.code} answers revoked",
        )
    application = vault.open(session, case)
    if application is None:
        raise HTTPException(status.HTTP_410_GONE, "this case's personal data has been erased: no document can be made")
    document = LicenceDocument.issued(found, application, str(request.base_url))
    log_read(session, case, user, "e-licence document", DOCUMENT_READS)
    return Response(
        render_licence(document),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="licence-{found.code}.pdf"',
            "Cache-Control": "no-store",
        },
    )
