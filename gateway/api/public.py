"""The business licence in public: anyone checks it, its holder downloads it.

``GET /api/v1/public/licences/{code}``: anyone (a bank, a landlord, the QR code on an e-licence) asks
whether a business licence is genuine and valid. No sign-in; rate-limited per address.

``GET /api/v1/public/licences/{code}/document.pdf``: the e-licence (PDF, with the QR code of that
check) for the applicant of the case the licence was issued to, and no one else: it shows the
legal representative and the domicile from the application. A revoked licence has no document
(410, saying when it was revoked); each download is logged as a read of the application.

``POST /api/v1/public/licences/{code}/live``: the holder's e-licence shown on a phone ("亮照"): a QR
code of the public check with a live token, the gateway's signature over the code and an expiry
minutes away; the check says whether what it was shown is live, expired or forged (a screenshot
goes stale in minutes; the printed QR carries no token and checks only the code).

The answers come from the signed trail in the store: a completed business-licence handoff issued
the code; a compensation of that step (a withdrawal) revoked it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from agencies.identifiers import IdentifierError, validate_uscc
from agencies.licence_document import LicenceDocument, render_licence
from agencies.register import LicenceStatus
from chain.handoff import SignedHandoff
from gateway.access import log_read
from gateway.api.deps import CurrentUser, PublicLimitDep, SessionDep, SignerDep, VaultDep, require
from gateway.store import Case, HandoffRow
from workflows.authority import Authority, AuthorityError, GatewaySigner, Keyring

router = APIRouter(prefix="/api/v1/public", tags=["public"])

LICENCE_STEP = "business_licence"
DOCUMENT_READS = ["company", "legal_representative.name", "shareholders"]  # what the document shows or counts


LIVE_UPDATE = "licence-live"  # what a live token's gateway signature is over (with the licence code)
LIVE_FOR = timedelta(minutes=3)


class LicenceCheck(BaseModel):
    code: str
    format_valid: bool
    status: Literal["valid", "revoked", "unknown"]
    company_name: str | None = None
    issued_on: str | None = None
    revoked_on: str | None = None
    live: Literal["current", "expired", "invalid"] | None = Field(
        None, description="with ?live=: whether the e-licence shown was live now, stale, or not the gateway's"
    )
    live_until: str | None = None


class LiveLicence(BaseModel):
    """What a live token's signature covers besides the code (its ``case_id``); nothing else."""

    code: str
    authority: Authority | None = None


class LiveLicenceOut(BaseModel):
    url: str = Field(description="the public check of this licence with the live token: the QR code's content")
    expires_at: str
    qr_svg: str = Field(description="the QR code (an SVG data URI)")


def live_token(signer: GatewaySigner, code: str, now: datetime) -> tuple[str, str]:
    a = signer.sign(code, LIVE_UPDATE, LiveLicence(code=code), now, valid_for=LIVE_FOR)
    return "~".join((a.key_id, a.nonce, a.expires, a.signature)), a.expires


def judge_live(keyring: Keyring | None, code: str, token: str, now: datetime) -> tuple[str, str | None]:
    """("current" | "expired" | "invalid", the token's expiry if its signature holds)."""
    parts = token.split("~")
    if keyring is None or len(parts) != 4 or len(token) > 400:
        return "invalid", None
    key_id, nonce, expires, signature = parts
    message = LiveLicence(
        code=code, authority=Authority(key_id=key_id, nonce=nonce, expires=expires, signature=signature)
    )
    try:
        keyring.check(code, LIVE_UPDATE, message, now, used=set())
    except AuthorityError as exc:
        return ("expired", expires) if "expired" in str(exc) else ("invalid", None)
    return "current", expires


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


def gateway_keyring(request: Request) -> Keyring | None:
    try:
        return request.app.state.settings.gateway_keyring()
    except ValueError:
        return None


@router.get(
    "/licences/{code}", response_model=LicenceCheck, response_model_exclude_none=True, dependencies=[PublicLimitDep]
)
def check_licence(
    code: str,
    session: SessionDep,
    request: Request,
    live: Annotated[str | None, Query(max_length=400, description="the token of an e-licence shown live")] = None,
) -> LicenceCheck:
    found, _case = licence_status(session, code)
    answer = LicenceCheck(**found.to_json())
    if live is not None:
        answer.live, answer.live_until = judge_live(gateway_keyring(request), found.code, live, datetime.now(UTC))
    return answer


@router.post("/licences/{code}/live", response_model=LiveLicenceOut, dependencies=[require("applicant")])
def live_licence(code: str, request: Request, session: SessionDep, signer: SignerDep, user: CurrentUser) -> dict:
    """The e-licence to show on a phone: a QR code of the public check that is live for minutes."""
    found, case_id = licence_status(session, code)
    case = session.get(Case, case_id) if case_id else None
    if case is None or case.applicant_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no business licence {found.code} was issued to your cases")
    if found.status != "valid":
        raise HTTPException(
            status.HTTP_410_GONE, f"the business licence {found.code} was revoked on {found.revoked_on}"
        )
    token, expires = live_token(signer, found.code, datetime.now(UTC))
    url = f"{str(request.base_url).rstrip('/')}/check?{urlencode({'code': found.code, 'live': token})}"
    return {"url": url, "expires_at": expires, "qr_svg": segno.make_qr(url, error="m").svg_data_uri(scale=4, border=2)}


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
            f"a revoked licence has no document; GET /api/v1/public/licences/{found.code} answers revoked",
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
