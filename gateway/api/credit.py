"""SME credit (一贷通): the products on offer, a company's consents with every read made under them
and every read refused, a consent's revocation, and the auditor's list of reads under consents that
had ended. Granting a consent and applying for a loan are ``POST /api/v1/cases`` with ``"flow":
"sme_credit_consent"`` or ``"sme_credit"``; both are for a company the applicant registered.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from agencies.products import products
from gateway import credit
from gateway.api.deps import CurrentUser, SessionDep, TemporalDep, VaultDep, require, unprocessable
from gateway.casework import CaseNotStarted, case_view, open_case
from gateway.schemas import CasePublic
from workflows.catalog import get_flow

router = APIRouter(prefix="/api/v1/credit", tags=["sme credit"])


class ProductPublic(BaseModel):
    id: str
    bank: str
    title: str
    data: list[str] = Field(description="the government data the product reads (a consent must cover it all)")
    rate_percent: float
    terms_months: list[int]
    min_amount_cny: int
    max_amount_cny: int
    rules: list[dict[str, Any]] = Field(description="all must hold; each failed one's reason is given")


class ReadPublic(BaseModel):
    case_id: str
    step: str
    category: str | None
    served_by: str
    read_by: str | None
    product: str | None
    consent_id: str | None
    read_at: str
    handoff: str
    block_number: int


class ConsentPublic(BaseModel):
    consent_id: str
    uscc: str
    banks: list[str]
    data: list[str]
    granted_on: str
    expires_on: str
    status: str = Field(description="active, revoked or expired")
    revoked_on: str | None
    expiry_recorded: bool = Field(description="the platform has signed and anchored the expiry")
    case_id: str
    reads: list[ReadPublic] = Field(description="every read made under this consent, in ledger order")


class RefusalPublic(BaseModel):
    case_id: str
    step: str
    agency: str
    reason: str | None
    code: str | None
    at: str
    handoff: str
    block_number: int


class CompanyCredit(BaseModel):
    uscc: str
    consents: list[ConsentPublic]
    refused: list[RefusalPublic] = Field(description="every read refused (no valid consent…), each an anchored handoff")


class ViolationPublic(ReadPublic):
    finding: str


class ConsentAudit(BaseModel):
    consents: int
    ended: int = Field(description="consents revoked or expired")
    reads_checked: int
    violations: list[ViolationPublic] = Field(description="reads under a revoked, expired or unknown consent: none")


@router.get("/products", response_model=list[ProductPublic])
def list_products() -> list[dict[str, Any]]:
    """The lending banks' credit products (public)."""
    return [p.model_dump(mode="json", exclude={"limit"}) for p in products().values()]


@router.get("/companies/{uscc}", response_model=CompanyCredit, dependencies=[require("applicant")])
def company(uscc: str, session: SessionDep, vault: VaultDep, user: CurrentUser) -> dict[str, Any]:
    """Your company's consents, every read made under each, and every read refused."""
    try:
        return credit.company_view(session, vault, user, uscc)
    except credit.NotYourCompany as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post(
    "/consents/{consent_id}/revocation",
    status_code=status.HTTP_201_CREATED,
    response_model=CasePublic,
    dependencies=[require("applicant")],
)
async def revoke(
    consent_id: str, session: SessionDep, temporal: TemporalDep, vault: VaultDep, user: CurrentUser
) -> CasePublic:
    """Revoke a consent of your company's: the big data bureau records it (an anchored handoff) and
    refuses every read under it from then on. Follow the returned case."""
    consent = credit.consents(session, user.id).get(consent_id)
    if consent is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no consent {consent_id[:40]} of a company of yours")
    if consent["status"] != "active":
        raise HTTPException(status.HTTP_409_CONFLICT, f"consent {consent_id} is already {consent['status']}")
    application = {"company": {"uscc": consent["uscc"]}, "consent_id": consent_id}
    try:
        case, _ = await open_case(
            session, temporal, vault, user, get_flow(credit.REVOCATION_FLOW), application,
            title=f"一贷通撤销授权 Consent revoked {consent['uscc']}",
        )  # fmt: skip
    except CaseNotStarted as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the revocation could not be started: {exc}") from exc
    return case_view(session, case, vault)


class ExpiriesOut(BaseModel):
    started: list[str] = Field(description="the cases recording an expiry, one per consent that ran out")


@router.post("/expiries", response_model=ExpiriesOut, dependencies=[require("admin")])
async def record_expiries(
    session: SessionDep, temporal: TemporalDep, vault: VaultDep, user: CurrentUser
) -> ExpiriesOut:
    """The operator's daily sweep: the big data bureau records (signs, anchors) the expiry of every
    consent whose last day has passed and whose expiry is not recorded yet."""
    try:
        started = await sweep_expiries(session, temporal, vault, user)
    except CaseNotStarted as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"an expiry could not be started: {exc}") from exc
    return ExpiriesOut(started=started)


async def sweep_expiries(session, temporal, vault, user=None) -> list[str]:
    """Start the recording of every expiry due; ``user``: who asks (None: the gateway's own sweep,
    each case then opened for the company's founder who gave the consent). Returns the cases."""
    from gateway.store import Case, User

    started = []
    for consent in credit.expiries_due(session):
        owner = user or session.get(User, session.get(Case, consent["case_id"]).applicant_id)
        application = {"company": {"uscc": consent["uscc"]}, "consent_id": consent["consent_id"]}
        case, _ = await open_case(
            session, temporal, vault, owner, get_flow(credit.EXPIRY_FLOW), application,
            title=credit.expiry_title(consent["consent_id"]),
        )  # fmt: skip
        started.append(case.id)
    return started


class ConsentCases(BaseModel):
    consent_id: str
    grant: str = Field(description="the case that recorded the consent")
    revocation: str | None = Field(description="the case that recorded its revocation, if revoked")
    expiry: str | None = Field(description="the case that recorded its expiry, if recorded")


@router.get("/consents/{consent_id}", response_model=ConsentCases, dependencies=[require("auditor")])
def consent_cases(consent_id: str, session: SessionDep) -> ConsentCases:
    """The cases whose trails record a consent, its revocation and its expiry (to verify a loan's
    trail back to its consent: `onevisit audit loan CASE`)."""
    consent = credit.consents(session).get(consent_id)
    if consent is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no consent {consent_id[:40]} was recorded")
    return ConsentCases(
        consent_id=consent_id,
        grant=consent["case_id"],
        revocation=consent["revocation_case"],
        expiry=consent["expiry_case"],
    )


@router.get("/audit", response_model=ConsentAudit, dependencies=[require("auditor")])
def audit(session: SessionDep) -> dict[str, Any]:
    """Every read anchored under a consent already revoked, past its expiry, or never granted (none, if all is well)."""
    return credit.reads_after_consent_ended(session)


def check_company(session: SessionDep, user: CurrentUser, application: Any) -> None:
    """For ``POST /api/v1/cases``: a consent or a loan only for a company the applicant registered."""
    uscc = getattr(getattr(application, "company", None), "uscc", None)
    if application.flow not in (credit.CONSENT_FLOW, credit.LOAN_FLOW) or uscc is None:
        return
    try:
        credit.own_company(session, user, uscc)
    except credit.NotYourCompany as exc:
        raise unprocessable(("body", "company", "uscc"), str(exc), value=uscc) from exc
