"""The electronic health card: a resident's cards and their codes, a hospital's check of a code,
a lost card's revocation. Applying for a card is ``POST /api/v1/cases`` with ``"flow": "health_card"``.

Each check and each revocation is a case of its own flow (``health_card_visit``,
``health_card_revocation``): the health commission and the hospital sign and anchor what they did,
a refused code included, and the resident sees every check made with their card.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import segno
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlmodel import Session

from agencies.directory import HOSPITALS
from gateway.access import log_read
from gateway.api.deps import CurrentUser, SessionDep, SignerDep, TemporalDep, VaultDep, require
from gateway.casework import TERMINAL, CaseNotStarted, case_view, open_case
from gateway.residents import (
    REVOCATION_FLOW,
    VISIT_FLOW,
    cards_of,
    code_for,
    holder_application,
    own_card,
    shared_view,
    visit_title,
)
from gateway.schemas import CasePublic, Strict, Text
from gateway.store import Case
from workflows.catalog import get_flow

router = APIRouter(prefix="/api/v1/health-cards", tags=["health cards"])
CHECK_WAIT_S = 20.0  # a check answers at once when the case ends within this; else 202 with its case


class VisitPublic(BaseModel):
    case_id: str
    status: str
    hospital: str | None
    channel: str | None
    reason: str | None
    at: str


class HealthCardPublic(BaseModel):
    card_number: str
    status: Literal["valid", "revoked"]
    issued_on: str | None
    revoked_on: str | None
    case_id: str
    static_code: str = Field(description="what the card's static QR holds; a hospital needs the PIN with it")
    visits: list[VisitPublic] = Field(description="every check made with this card, read or refused")


class DynamicCode(BaseModel):
    code: str = Field(description="show it as a QR code: one visit, until expires_at")
    expires_at: str
    qr_svg: str = Field(description="the code as a QR image (an SVG data URI)")


class CheckIn(Strict):
    code: Text = Field(min_length=5, max_length=2000, description="what the QR code holds (EHC:… or EHD:…)")
    pin: str | None = Field(None, pattern=r"^[0-9]{6}$", description="the card's PIN, with a static code")
    channel: Literal["window", "kiosk", "doctor", "app"] = "window"


class CheckOut(BaseModel):
    case_id: str
    status: Literal["valid", "refused", "pending"]
    reason: str | None = None
    card_number: str | None = None
    factor: str | None = None
    holder: dict[str, Any] | None = Field(None, description="only what the resident chose to share")


class RevocationIn(Strict):
    reason: Literal["lost", "stolen", "damaged"]
    reissue: bool = Field(True, description="issue a new card at once (same archive, PIN and sharing)")


@router.get("", response_model=list[HealthCardPublic], dependencies=[require("applicant")])
def my_cards(session: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """Your health cards, each with its status and every check a hospital made with it."""
    return cards_of(session, user)


@router.post("/{card_number}/code", response_model=DynamicCode, dependencies=[require("applicant")])
def dynamic_code(card_number: str, session: SessionDep, user: CurrentUser, signer: SignerDep) -> dict[str, Any]:
    """A dynamic code for one visit (it expires in minutes and works once; no PIN needed with it)."""
    own_card(session, user, card_number)
    made = code_for(signer, card_number)
    return {**made, "qr_svg": segno.make_qr(made["code"], error="m").svg_data_uri(scale=4, border=2)}


def _hospital(user) -> str:
    if user.agency not in HOSPITALS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a clerk of a hospital of the network checks health cards")
    return user.agency


@router.post(
    "/checks",
    response_model=CheckOut,
    dependencies=[require("clerk")],
    responses={202: {"model": CheckOut, "description": "still being checked: follow the case"}},
)
async def check(
    body: CheckIn,
    request: Request,
    session: SessionDep,
    temporal: TemporalDep,
    vault: VaultDep,
    user: CurrentUser,
) -> Any:
    """A hospital scans a card's code: the health commission checks it (a replayed or expired code,
    a revoked card or a wrong PIN is refused, and the refusal recorded), the hospital records its
    read, and the holder's shared details come back. The resident sees the check on their card."""
    hospital = _hospital(user)
    application = {"code": body.code, "pin": body.pin, "hospital": hospital, "channel": body.channel}
    application = {k: v for k, v in application.items() if v is not None}
    try:
        case, _ = await open_case(
            session,
            temporal,
            vault,
            user,
            get_flow(VISIT_FLOW),
            application,
            title=visit_title(body.code),
            kept={k: v for k, v in application.items() if k != "pin"},  # the PIN goes to the card's issuer only
        )
    except CaseNotStarted as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the check could not be started: {exc}") from exc
    case = await _ended(request, case.id)
    if case.status not in TERMINAL:
        return JSONResponse(CheckOut(case_id=case.id, status="pending").model_dump(), status.HTTP_202_ACCEPTED)
    if case.status != "completed":
        return CheckOut(case_id=case.id, status="refused", reason=case.reason)
    number, shared = case.result["card_number"], case.result.get("read", ["identity"])
    found = holder_application(session, vault, number)
    holder = None
    if found is not None:
        card_case, data = found
        holder = shared_view(data, shared)
        log_read(session, card_case, user, f"health card check at {hospital} ({body.channel}), case {case.id}", shared)
    return CheckOut(
        case_id=case.id, status="valid", card_number=number, factor=case.result.get("factor"), holder=holder
    )


async def _ended(request: Request, case_id: str) -> Case:
    engine, feed = request.app.state.engine, request.app.state.case_feed

    def load() -> Case:
        with Session(engine, expire_on_commit=False) as s:
            return s.get(Case, case_id)

    async with feed.watch(case_id) as changed:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CHECK_WAIT_S
        while True:
            case = await asyncio.to_thread(load)
            left = deadline - loop.time()
            if case.status in TERMINAL or left <= 0:
                return case
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                pass
            changed.clear()


@router.post(
    "/{card_number}/revocation",
    response_model=CasePublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[require("applicant")],
)
async def revoke(
    card_number: str,
    body: RevocationIn,
    session: SessionDep,
    temporal: TemporalDep,
    vault: VaultDep,
    user: CurrentUser,
) -> CasePublic:
    """Report a card lost: the health commission revokes it (anchored; its codes are refused from
    then on) and, unless you say not to, issues a new one."""
    issued = own_card(session, user, card_number)
    data = vault.open(session, issued)
    id_number = (data or {}).get("resident", {}).get("id_number")
    if id_number is None:  # a reissued card: the holder's ID is on the case that started the line
        found = holder_application(session, vault, card_number)
        id_number = found[1]["resident"]["id_number"] if found else None
    if id_number is None:
        raise HTTPException(status.HTTP_410_GONE, "this card's application has been erased")
    application = {
        "card_number": card_number,
        "resident": {"id_number": id_number},
        "reason": body.reason,
        "reissue": body.reissue,
    }
    try:
        case, _ = await open_case(
            session, temporal, vault, user, get_flow(REVOCATION_FLOW), application, title="电子健康卡挂失 Lost card"
        )
    except CaseNotStarted as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the revocation could not be started: {exc}") from exc
    return case_view(session, case, vault)
