"""Free text under the case's key, and the erasure of a person's data.

A clerk's reason or an applicant's withdrawal reason reaches the engine, the agencies and the trail
only as a salted commitment (``chain.handoff.text_commitment``); the text and its salt are kept
here, sealed under the case's key, and shown in place of the ``[reason:0x…]`` token a case's status
carries. ``erase`` destroys that key (with the application and every note under it), blanks what
the store holds of the case in the clear, deletes the case's Temporal history, and has the big data
bureau sign and anchor the erasure as a case of its own: the trail, which holds only hashes and
commitments, still verifies.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from sqlalchemy import text as sql
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client

from chain.handoff import new_salt, text_commitment
from gateway.store import (
    ApplicationRead,
    Case,
    CaseKey,
    CaseNote,
    Erasure,
    IdempotentRequest,
    QueueItem,
    User,
    Vault,
)
from workflows.catalog import get_flow
from workflows.messages import CaseStatus

log = logging.getLogger("onevisit.gateway.erasure")

ERASURE_FLOW = "case_erasure"
TOKEN = re.compile(r"\[reason:(0x[0-9a-f]{64})\]")
ERASED = "[已删除 erased]"  # what stands for text whose key is gone


class CaseErased(Exception):
    """The case's key is gone: nothing can be sealed under it any more."""


class CaseStillOpen(Exception):
    """Only a case that has ended is erased (withdraw a running one first), once (another erasure
    may be under way), and never the record of an erasure."""


def keep_text(session: Session, vault: Vault, case: Case, kind: str, text: str) -> str:
    """Seal ``text`` with a fresh salt under the case's key; return its commitment."""
    salt = new_salt()
    commitment = text_commitment(text, salt)
    sealed = vault.seal_note(session, case, {"text": text, "salt": salt})
    if sealed is None:
        raise CaseErased(f"the personal data of case {case.id} has been erased")
    session.add(CaseNote(commitment=commitment, case_id=case.id, kind=kind, sealed=sealed))
    session.commit()
    return commitment


def drop_text(session: Session, commitment: str) -> None:
    """Forget a note whose update the engine refused (it is in no handoff)."""
    note = session.get(CaseNote, commitment)
    if note is not None:
        session.delete(note)
        session.commit()


def notes_of(session: Session, vault: Vault, case_id: str) -> list[dict[str, Any]]:
    """Each note of a case: its commitment, kind, text and salt (text and salt None once erased)."""
    out = []
    for note in session.exec(select(CaseNote).where(CaseNote.case_id == case_id)).all():
        opened = vault.open_note(session, case_id, note.sealed) or {}
        out.append({"commitment": note.commitment, "kind": note.kind, **{k: opened.get(k) for k in ("text", "salt")}})
    return out


class Texts(Protocol):
    def get(self, commitment: str, default: str, /) -> str: ...


def shown(texts: Texts, value: str | None) -> str | None:
    """``value`` with each reason token replaced by its text (or by ``ERASED``)."""
    if not value or "[reason:" not in value:
        return value
    return TOKEN.sub(lambda m: texts.get(m.group(1), ERASED), value)


def texts_of(session: Session, vault: Vault | None, case_id: str) -> dict[str, str]:
    if vault is None:
        return {}
    return {n["commitment"]: n["text"] for n in notes_of(session, vault, case_id) if n["text"] is not None}


# ---------------------------------------------------------------------------------------- erasure
async def erase(
    session: Session, temporal: Client, vault: Vault, admin: User, case: Case, reason: str
) -> tuple[Erasure, bool]:
    """Erase the person behind ``case``; returns the erasure and whether it is new (an erasure asked
    for again returns the first). The anchored record is a ``case_erasure`` case the big data bureau
    signs, naming the case's commitment and the reason's."""
    from gateway.casework import TERMINAL, open_case  # casework imports this module

    if (done := session.get(Erasure, case.id)) is not None:
        if not done.record_case:
            raise CaseStillOpen(f"an erasure of case {case.id} is under way")
        return done, False
    if case.flow == ERASURE_FLOW:
        raise CaseStillOpen(f"case {case.id} records an erasure: it holds no one's personal data and is kept")
    if case.status not in TERMINAL:
        raise CaseStillOpen(f"case {case.id} is {case.status}: only an ended case is erased (withdraw it first)")
    salt = new_salt()
    reason_commitment = text_commitment(reason, salt)
    claim = Erasure(case_id=case.id, erased_by=admin.username, record_case="", reason_commitment=reason_commitment)
    session.add(claim)
    try:
        session.commit()  # two erasures at once: one claims the case
    except IntegrityError:
        session.rollback()
        raise CaseStillOpen(f"an erasure of case {case.id} is under way") from None
    try:
        record, _ = await open_case(
            session, temporal, vault, admin, get_flow(ERASURE_FLOW),
            {"erased_case": case.commitment, "reason_commitment": reason_commitment},
            title=f"个人数据删除 Erasure of {case.id}",
        )  # fmt: skip
    except Exception:
        session.rollback()
        session.delete(session.get(Erasure, case.id))
        session.commit()
        raise
    sealed = vault.seal_note(session, record, {"text": reason, "salt": salt})
    session.add(CaseNote(commitment=reason_commitment, case_id=record.id, kind="erasure", sealed=sealed))
    claim = session.get(Erasure, case.id)
    claim.record_case = record.id
    session.add(claim)
    _destroy(session, case)
    session.commit()
    _checkpoint(session)
    await _forget_history(temporal, case.id)
    session.refresh(claim)
    return claim, True


def _destroy(session: Session, case: Case) -> None:
    """The case's key and everything under it, and what the store held of the case in the clear."""
    if (key := session.get(CaseKey, case.id)) is not None:
        session.delete(key)
    for model in (CaseNote, QueueItem, IdempotentRequest):
        for row in session.exec(select(model).where(model.case_id == case.id)).all():
            session.delete(row)
    for read in session.exec(select(ApplicationRead).where(ApplicationRead.case_id == case.id)).all():
        if read.purpose:  # a clerk's free text: who read which fields, and when, stays
            read.purpose = ERASED
            session.add(read)
    case.application_enc = b""
    case.title = ERASED
    case.reason = "个人数据已删除 personal data erased"
    case.result = {}
    if case.snapshot:
        status = CaseStatus.model_validate(case.snapshot)
        for st in status.steps:
            st.reason = ERASED if st.reason else None
            st.review_reasons = []
        for event in status.events:
            event.detail = ERASED
        status.result, status.reason = {}, case.reason
        case.snapshot = status.model_dump(mode="json")
    session.add(case)


def _checkpoint(session: Session) -> None:
    """On SQLite, move the write-ahead log into the database and empty it, so that the pages holding
    what was erased (overwritten there: secure_delete) leave no older copy in the log."""
    if session.get_bind().dialect.name != "sqlite":
        return
    try:
        session.exec(sql("PRAGMA wal_checkpoint(TRUNCATE)"))
    except Exception as exc:  # noqa: BLE001 - a reader holds the log: the next checkpoint does it
        log.warning("the store's write-ahead log was not truncated after an erasure: %s", exc)


async def _forget_history(temporal: Client, case_id: str) -> None:
    """Delete the ended case's workflow history from Temporal (its payloads are under the operator's
    data key, not the case's: deleting the history is what erases them there)."""
    try:
        await temporal.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=temporal.namespace, workflow_execution=WorkflowExecution(workflow_id=case_id)
            )
        )
    except Exception as exc:  # noqa: BLE001 - the store is erased either way; say what is left
        log.warning("the Temporal history of erased case %s was not deleted: %s", case_id, exc)
