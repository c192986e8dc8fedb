"""Erasure of a person's data in a case (admins), and the free-text notes kept under the case's key."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import BaseModel, Field

from chain.handoff import text_commitment
from gateway import erasure
from gateway.api.deps import CaseDep, CurrentUser, SessionDep, TemporalDep, VaultDep, require
from gateway.casework import CaseNotStarted, handoffs_of
from gateway.schemas import ErasureIn, ErasurePublic

router = APIRouter(prefix="/api/v1/cases", tags=["erasure"])


@router.post(
    "/{case_id}/erasure",
    status_code=status.HTTP_201_CREATED,
    response_model=ErasurePublic,
    dependencies=[require("admin")],
    responses={
        200: {"description": "erased before: the first erasure"},
        409: {"description": "the case has not ended, records an erasure, or is being erased"},
    },
)
async def erase(
    body: ErasureIn,
    case: CaseDep,
    session: SessionDep,
    temporal: TemporalDep,
    vault: VaultDep,
    user: CurrentUser,
    response: Response,
) -> ErasurePublic:
    """Erase the person's data in an ended case: its key (so its application and every reason kept
    under it), what the store holds of it in the clear, and its Temporal history. The big data
    bureau signs and anchors the erasure (a ``case_erasure`` case naming this case's commitment and
    the reason's); the case's trail still verifies. Asked again, it answers the first erasure (200)."""
    try:
        done, new = await erasure.erase(session, temporal, vault, user, case, body.reason)
    except erasure.CaseStillOpen as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    except CaseNotStarted as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the erasure could not be recorded: {exc}") from exc
    if not new:
        response.status_code = status.HTTP_200_OK
    return ErasurePublic.model_validate(done, from_attributes=True)


class NotePublic(BaseModel):
    """Free text about a case, with what the trail carries for it."""

    commitment: str = Field(description="as the handoff carries it: keccak256(domain || salt || text)")
    kind: str
    text: str | None = Field(description="None once the case's data was erased")
    salt: str | None
    matches: bool | None = Field(description="whether text and salt make the commitment (None once erased)")
    in_trail: bool = Field(
        description="whether a handoff of the case carries the commitment (outputs.reason_commitment); an "
        "approval's reason never is (it is in the case's events only)"
    )


@router.get("/{case_id}/notes", response_model=list[NotePublic], dependencies=[require("applicant", "auditor")])
def notes(case: CaseDep, session: SessionDep, vault: VaultDep) -> list[NotePublic]:
    """The reasons given on this case (a clerk's, a withdrawal's, an erasure's), with their salts, so
    that each can be checked against the commitment its handoff carries (``in_trail``: one does)."""
    carried = {r.signed["record"]["outputs"].get("reason_commitment") for r in handoffs_of(session, case.id)}
    return [
        NotePublic(
            **n,
            matches=None if n["text"] is None else text_commitment(n["text"], n["salt"]) == n["commitment"],
            in_trail=n["commitment"] in carried,
        )
        for n in erasure.notes_of(session, vault, case.id)
    ]
