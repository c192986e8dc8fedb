"""GET /api/public/licences/{code}: anyone (a bank, a landlord, the QR code on an e-licence) asks
whether a business licence is genuine and valid. No sign-in; rate-limited per address.

The answer comes from the signed trail in the store: a completed business-licence handoff issued
the code; a compensation of that step (a withdrawal) revoked it.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import select

from agencies.identifiers import IdentifierError, validate_uscc
from chain.handoff import SignedHandoff
from gateway.api.deps import PublicLimitDep, SessionDep
from gateway.store import HandoffRow

router = APIRouter(prefix="/api/public", tags=["public"])

LICENCE_STEP = "business_licence"


class LicenceCheck(BaseModel):
    code: str
    format_valid: bool
    status: Literal["valid", "revoked", "unknown"]
    company_name: str | None = None
    issued_on: str | None = None


@router.get(
    "/licences/{code}", response_model=LicenceCheck, response_model_exclude_none=True, dependencies=[PublicLimitDep]
)
def check_licence(code: str, session: SessionDep) -> LicenceCheck:
    shown = code[:64]
    try:
        code = validate_uscc(code)
    except IdentifierError:
        return LicenceCheck(code=shown, format_valid=False, status="unknown")
    issued = session.exec(
        select(HandoffRow).where(
            HandoffRow.step == LICENCE_STEP,
            HandoffRow.outcome == "completed",
            HandoffRow.signed[("record", "outputs", "uscc")].as_string() == code,
        )
    ).first()
    if issued is None:
        return LicenceCheck(code=code, format_valid=True, status="unknown")
    outputs = SignedHandoff.model_validate(issued.signed).record.outputs
    revoked = session.exec(
        select(HandoffRow).where(
            HandoffRow.case_id == issued.case_id, HandoffRow.step == LICENCE_STEP, HandoffRow.outcome == "compensated"
        )
    ).first()
    return LicenceCheck(
        code=code,
        format_valid=True,
        status="revoked" if revoked else "valid",
        company_name=outputs.get("company_name"),
        issued_on=outputs.get("licence_date"),
    )
