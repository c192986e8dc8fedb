"""Residents and their electronic health cards, as the gateway sees them.

The health commission holds the cards; the gateway knows them from the anchored handoffs of each
resident's cases (a card issued, revoked, reissued) and keeps, per resident ID number, which
account it belongs to (``ResidentBinding``): one account per person, so nobody gets another
person's card by applying with their ID number.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import HTTPException, status
from sqlmodel import Session, col, select

from agencies.health import QR_UPDATE, QrClaim, dynamic_code, read_dynamic_code
from agencies.identifiers import resident_id_birth_date, resident_id_sex
from gateway.api.deps import unprocessable
from gateway.store import Case, ResidentBinding, User, Vault
from workflows.authority import GatewaySigner

CARD_FLOWS = ("health_card", "health_card_revocation")  # the cases whose results name a card issued
VISIT_FLOW, REVOCATION_FLOW = "health_card_visit", "health_card_revocation"
CODE_LIFETIME = timedelta(minutes=3)  # a dynamic code is made for one visit, at the counter


def bind_resident(session: Session, vault: Vault, user: User, id_number: str) -> None:
    """This account is this resident's: refused (422 naming the field) when the ID number is
    another account's, or the account already holds another resident's card."""
    index = vault.blind_index("resident-id", id_number)
    row = session.get(ResidentBinding, index)
    if row is not None and row.user_id != user.id:
        raise unprocessable(
            ("body", "resident", "id_number"),
            "resident.id_number: this resident already has an account here; sign in with it (one account per person)",
        )
    if row is None:
        other = session.exec(select(ResidentBinding).where(ResidentBinding.user_id == user.id)).first()
        if other is not None:
            raise unprocessable(
                ("body", "resident", "id_number"),
                "resident.id_number: this account holds another resident's health card; each person applies with "
                "their own account",
            )
        session.add(ResidentBinding(id_index=index, user_id=user.id))
        session.commit()


def card_view(number: str, issued: Case, revoked: Case | None) -> dict[str, Any]:
    return {
        "card_number": number,
        "status": "revoked" if revoked else "valid",
        "issued_on": issued.result.get("issued_on"),
        "revoked_on": revoked.result.get("revoked_on") if revoked else None,
        "case_id": issued.id,
        "static_code": f"EHC:{number}",
    }


def _completed(session: Session, *where) -> list[Case]:
    query = select(Case).where(col(Case.status) == "completed", *where).order_by(col(Case.created_at))
    return list(session.exec(query))


def revocation_of(session: Session, number: str) -> Case | None:
    found = _completed(session, Case.flow == REVOCATION_FLOW, Case.result["revoked_card"].as_string() == number)
    return found[0] if found else None


def issuing_case(session: Session, number: str) -> Case | None:
    """The first completed case whose result names this card as issued (an application or a reissue)."""
    found = _completed(session, col(Case.flow).in_(CARD_FLOWS), Case.result["card_number"].as_string() == number)
    return found[0] if found else None


def cards_of(session: Session, user: User) -> list[dict[str, Any]]:
    """The resident's cards, newest last, each with its status and every check made with it."""
    seen: dict[str, dict[str, Any]] = {}
    for case in _completed(session, Case.applicant_id == user.id, col(Case.flow).in_(CARD_FLOWS)):
        number = case.result.get("card_number")
        if number and number not in seen:
            card = card_view(number, case, revocation_of(session, number))
            seen[number] = {**card, "visits": visits(session, number)}
    return list(seen.values())


def own_card(session: Session, user: User, number: str) -> Case:
    issued = issuing_case(session, number)
    if issued is None or issued.applicant_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"you hold no health card {number}")
    if revocation_of(session, number) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"card {number} is revoked: use the card that replaced it")
    return issued


def holder_application(session: Session, vault: Vault, number: str) -> tuple[Case, dict[str, Any]] | None:
    """The application of the case that first issued the card's line (a reissue follows ``replaces``)."""
    for _ in range(50):
        case = issuing_case(session, number)
        if case is None:
            return None
        if case.flow == "health_card":
            data = vault.open(session, case)
            return (case, data) if data is not None else None
        number = case.result.get("replaces", "")
    return None


def shared_view(application: dict[str, Any], shared: list[str]) -> dict[str, Any]:
    """What a hospital is shown of the holder: only what the resident chose to share."""
    resident = application["resident"]
    out: dict[str, Any] = {}
    if "identity" in shared:
        out["identity"] = {
            "name": resident["name"],
            "id_number": resident["id_number"],
            "sex": resident_id_sex(resident["id_number"]),
            "birth_date": resident_id_birth_date(resident["id_number"]).isoformat(),
        }
    if "emergency_contact" in shared and application.get("emergency_contact"):
        out["emergency_contact"] = application["emergency_contact"]
    if "allergies" in shared:
        out["allergies"] = application.get("allergies", [])
    return out


def code_for(signer: GatewaySigner, number: str) -> dict[str, Any]:
    """A dynamic code for one visit: the gateway's signature over the card number, a nonce and a
    near expiry; the health commission takes each code once."""
    now = datetime.now(UTC)
    claim = QrClaim(card_number=number)
    authority = signer.sign(number, QR_UPDATE, claim, now, valid_for=CODE_LIFETIME)
    return {"code": dynamic_code(claim.model_copy(update={"authority": authority})), "expires_at": authority.expires}


def visit_title(code: str) -> str:
    """A visit case's title names the card it checked (its number, never the holder)."""
    if code.startswith("EHD:"):
        try:
            return f"health card {read_dynamic_code(code).card_number[:32]}"
        except Exception:  # noqa: BLE001 - a garbled code is the health commission's to refuse, with a record
            return "health card ?"
    return f"health card {code.removeprefix('EHC:')[:32]}"


def visits(session: Session, number: str) -> list[dict[str, Any]]:
    """Every check made with the card, read or refused, oldest first."""
    query = select(Case).where(Case.flow == VISIT_FLOW, Case.title == f"health card {number}")
    out = []
    for case in session.exec(query.order_by(col(Case.created_at))):
        clerk = session.get(User, case.applicant_id)  # a visit is opened by the hospital's clerk
        out.append(
            {
                "case_id": case.id,
                "status": case.status,
                "hospital": clerk.agency if clerk else None,
                "channel": case.result.get("channel"),
                "reason": case.reason,
                "at": case.created_at.isoformat(),
            }
        )
    return out
