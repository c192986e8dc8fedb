"""SME credit (一贷通) as the gateway sees it, from what the engine recorded: a company's consents
(each granted, revoked or expired), every read made under them and every read refused; and, for the
auditor, every read anchored under a consent already revoked or past its expiry (there must be none).

A company is one an applicant registered: a completed business registration of theirs whose licence
carries the credit code. Consents and revocations are cases of their own flows, so what is listed
here is what the big data bureau signed and anchored.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlmodel import Session, select

from agencies.consent import READ_STEPS
from gateway.store import Case, HandoffRow, User, Vault

CONSENT_FLOW, REVOCATION_FLOW, LOAN_FLOW = "sme_credit_consent", "sme_credit_consent_revocation", "sme_credit"
EXPIRY_FLOW = "sme_credit_consent_expiry"
CHECK_STEP, REVOKE_STEP = "consent_check", "consent_revoke"


class NotYourCompany(Exception):
    """The credit code is not on a licence issued to one of this applicant's registrations."""


def companies_of(session: Session, user: User) -> dict[str, str]:
    """Credit code -> company name, for every company this applicant registered."""
    cases = session.exec(
        select(Case).where(
            Case.applicant_id == user.id, Case.flow == "business_registration", Case.status == "completed"
        )
    )
    return {c.result["uscc"]: c.result.get("company_name", c.title) for c in cases if c.result.get("uscc")}


def own_company(session: Session, user: User, uscc: str) -> None:
    if uscc not in companies_of(session, user):
        raise NotYourCompany(f"company.uscc: {uscc} is not the credit code of a company you registered")


def _completed(session: Session, flow: str, applicant: int | None = None) -> list[Case]:
    query = select(Case).where(Case.flow == flow, Case.status == "completed")
    if applicant is not None:
        query = query.where(Case.applicant_id == applicant)
    return list(session.exec(query.order_by(Case.created_at)))


def _handoff(session: Session, case_id: str, step: str) -> HandoffRow | None:
    return session.exec(select(HandoffRow).where(HandoffRow.case_id == case_id, HandoffRow.step == step)).first()


def consents(session: Session, applicant: int | None = None) -> dict[str, dict[str, Any]]:
    """Every consent recorded (of one applicant's companies, or all): its terms and its status now."""
    out: dict[str, dict[str, Any]] = {}
    for case in _completed(session, CONSENT_FLOW, applicant):
        r = case.result
        out[r["consent_id"]] = {
            "consent_id": r["consent_id"], "uscc": r["uscc"], "banks": r["banks"], "data": r["data"],
            "granted_on": r["granted_on"], "expires_on": r["expires_on"], "case_id": case.id,
            "status": "active", "revoked_on": None, "revoked_block": None, "revocation_case": None,
            "expiry_case": None,
        }  # fmt: skip
    for case in _completed(session, REVOCATION_FLOW, applicant):
        consent = out.get(case.result.get("consent_id"))
        row = _handoff(session, case.id, REVOKE_STEP)
        if consent is not None and row is not None:
            consent.update(
                status="revoked", revoked_on=case.result["revoked_on"], revoked_block=row.block_number,
                revocation_case=case.id,
            )  # fmt: skip
    today = datetime.now(UTC).date()
    for consent in out.values():
        consent["expiry_recorded"] = False
        if consent["status"] == "active" and date.fromisoformat(consent["expires_on"]) < today:
            consent["status"] = "expired"
    for case in _completed(session, EXPIRY_FLOW):  # the platform's sweep records them (not the company's cases)
        if (consent := out.get(case.result.get("consent_id"))) is not None:
            consent.update(status="expired", expiry_recorded=True, expiry_case=case.id)
    return out


def expiry_title(consent_id: str) -> str:
    return f"一贷通授权到期 Consent {consent_id} expired"


def expiries_due(session: Session) -> list[dict[str, Any]]:
    """Consents past their last day whose expiry nobody has started to record yet."""
    started = {c.title for c in session.exec(select(Case).where(Case.flow == EXPIRY_FLOW)) if c.status != "failed"}
    return [
        c
        for c in consents(session).values()
        if c["status"] == "expired" and expiry_title(c["consent_id"]) not in started
    ]


def _read(row: HandoffRow) -> dict[str, Any]:
    record = row.signed["record"]
    out = record["outputs"]
    return {
        "case_id": row.case_id, "step": row.step, "category": out.get("category"), "served_by": row.agency,
        "read_by": out.get("read_by"), "product": out.get("product"), "consent_id": out.get("consent_id"),
        "read_at": out.get("read_at") or record["time"], "handoff": row.hash, "block_number": row.block_number,
    }  # fmt: skip


def reads(session: Session) -> list[dict[str, Any]]:
    """Every completed read, in ledger order."""
    rows = session.exec(
        select(HandoffRow)
        .where(HandoffRow.step.in_(list(READ_STEPS)), HandoffRow.outcome == "completed")
        .order_by(HandoffRow.block_number, HandoffRow.log_index)
    )
    return [_read(r) for r in rows]


def refusals(session: Session, vault: Vault, user: User, uscc: str) -> list[dict[str, Any]]:
    """Every read refused in this applicant's loan applications for the company (no valid consent…)."""
    out = []
    cases = session.exec(select(Case).where(Case.applicant_id == user.id, Case.flow == LOAN_FLOW))
    for case in cases:
        app = vault.open(session, case) or {}
        if (app.get("company") or {}).get("uscc") != uscc:
            continue
        rows = session.exec(
            select(HandoffRow).where(
                HandoffRow.case_id == case.id,
                HandoffRow.outcome == "rejected",
                HandoffRow.step.in_([CHECK_STEP, *READ_STEPS]),
            )
        )
        for row in rows:
            outputs = row.signed["record"]["outputs"]
            out.append({"case_id": case.id, "step": row.step, "agency": row.agency, "reason": outputs.get("reason"),
                        "code": outputs.get("code"), "at": row.signed["record"]["time"], "handoff": row.hash,
                        "block_number": row.block_number})  # fmt: skip
    return sorted(out, key=lambda r: r["block_number"])


def company_view(session: Session, vault: Vault, user: User, uscc: str) -> dict[str, Any]:
    """A company's consents, each with every read made under it, and every read refused."""
    own_company(session, user, uscc)
    mine = {k: v for k, v in consents(session, user.id).items() if v["uscc"] == uscc}
    for consent in mine.values():
        consent["reads"] = []
    for read in reads(session):
        if read["consent_id"] in mine:
            mine[read["consent_id"]]["reads"].append(read)
    return {"uscc": uscc, "consents": list(mine.values()), "refused": refusals(session, vault, user, uscc)}


def reads_after_consent_ended(session: Session) -> dict[str, Any]:
    """For the auditor: every read anchored after its consent's revocation was anchored, made after
    its expiry day, or under a consent nobody granted. ``violations`` must be empty."""
    known, violations, checked = consents(session), [], 0
    for read in reads(session):
        checked += 1
        consent = known.get(read["consent_id"])
        if consent is None:
            violations.append({**read, "finding": "no consent granted with this id"})
        elif consent["revoked_block"] is not None and read["block_number"] > consent["revoked_block"]:
            violations.append(
                {**read, "finding": f"read after the consent was revoked (block {consent['revoked_block']})"}
            )
        elif read["read_at"][:10] > consent["expires_on"]:
            violations.append({**read, "finding": f"read after the consent expired ({consent['expires_on']})"})
    ended = sum(c["status"] != "active" for c in known.values())
    return {"consents": len(known), "ended": ended, "reads_checked": checked, "violations": violations}
