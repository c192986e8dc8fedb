"""The auditor's view of the store for whole-ledger reconciliation: every handoff record, a page
at a time, with no personal data (hashes, the case commitment, step, agency and the stored anchor
reference), and the deployment those records were anchored on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import select

from chain.anchors import Anchor
from chain.audit.evidence import ChainRef
from chain.audit.ledger import StoredRecord
from gateway.api.deps import DeploymentDep, SessionDep, require
from gateway.service_levels import ServiceLevels, service_levels
from gateway.store import Case, HandoffRow

router = APIRouter(prefix="/api/v1/audit", tags=["audit"], dependencies=[require("auditor")])
HASH = r"^0x[0-9a-fA-F]{64}$"


class HandoffPage(BaseModel):
    items: list[StoredRecord]
    next: str | None = None  # pass as `after` for the next page; None on the last


@router.get("/deployment", response_model=ChainRef)
def deployment(deployed: DeploymentDep) -> ChainRef:
    """Where the contracts live (chain id, addresses, deployment block)."""
    return ChainRef(**deployed.chain.to_json())


@router.get("/service-levels", response_model=ServiceLevels)
def levels(session: SessionDep) -> ServiceLevels:
    """Time to licence, time to all seals (per month and overall) and each agency's step times,
    all differences of anchor block times: each one can be rechecked against the ledger."""
    rows = session.exec(
        select(
            HandoffRow.case_id,
            HandoffRow.hash,
            HandoffRow.step,
            HandoffRow.agency,
            HandoffRow.signed,
            HandoffRow.anchor,
        ).where(HandoffRow.outcome == "completed")
    ).all()
    return service_levels(
        (case_id, digest, step, agency, list(signed["record"].get("parents", [])), int(anchor["timestamp"]))
        for case_id, digest, step, agency, signed, anchor in rows
        if anchor and "timestamp" in anchor
    )


@router.get("/handoffs", response_model=HandoffPage)
def handoffs(
    session: SessionDep,
    after: Annotated[str | None, Query(pattern=HASH, description="the last hash of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> HandoffPage:
    """Every stored handoff record in hash order, ``limit`` at a time."""
    query = select(HandoffRow, Case.commitment, Case.flow).join(Case, Case.id == HandoffRow.case_id)
    if after is not None:
        query = query.where(HandoffRow.hash > after.lower())
    rows = session.exec(query.order_by(HandoffRow.hash).limit(limit + 1)).all()
    items = [
        StoredRecord(
            hash=row.hash,
            case_id=row.case_id,
            case_commitment=commitment,
            flow=flow,
            step=row.step,
            agency=row.agency,
            outcome=row.outcome,
            anchor=Anchor.model_validate(row.anchor) if row.anchor else None,
        )
        for row, commitment, flow in rows[:limit]
    ]
    return HandoffPage(items=items, next=items[-1].hash if len(rows) > limit else None)
