"""Starting a case's workflow when the start fails (a fake Temporal client): the engine is asked
whether it took the case after all, and the case is deleted only when it did not."""

from __future__ import annotations

from sqlmodel import select
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from gateway.store import Case, CaseKey
from tests.fixtures.stack import application
from workflows.messages import CASE_WORKFLOW

LOST_REPLY = RPCError("deadline exceeded before the reply came", RPCStatusCode.DEADLINE_EXCEEDED, b"")
ENGINE_DOWN = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


def apply(gw):
    return gw.http.post("/api/v1/cases", json=application(), headers=gw.login("applicant"))


def stored(gw) -> tuple[list[str], list[str]]:
    with gw.session() as session:
        return list(session.exec(select(Case.id)).all()), list(session.exec(select(CaseKey.case_id)).all())


def test_a_start_whose_reply_was_lost_keeps_the_case_the_engine_runs(in_process_gateway, fake_temporal):
    fake_temporal.start_error, fake_temporal.start_accepted = LOST_REPLY, True
    resp = apply(in_process_gateway)
    assert resp.status_code == 201, resp.text
    case_id = resp.json()["case_id"]
    assert list(fake_temporal.started) == [case_id]
    assert stored(in_process_gateway) == ([case_id], [case_id])
    again = in_process_gateway.http.get(f"/api/v1/cases/{case_id}", headers=in_process_gateway.login("applicant"))
    assert again.status_code == 200 and len(again.json()["steps"]) == 7


def test_a_start_the_engine_already_holds_keeps_the_case(in_process_gateway, fake_temporal):
    fake_temporal.start_error = WorkflowAlreadyStartedError("started by an earlier try", CASE_WORKFLOW)
    fake_temporal.start_accepted = True
    resp = apply(in_process_gateway)
    assert resp.status_code == 201, resp.text
    assert stored(in_process_gateway)[0] == [resp.json()["case_id"]]


def test_a_start_the_engine_never_took_deletes_the_case_and_its_key(in_process_gateway, fake_temporal):
    fake_temporal.start_error = ENGINE_DOWN
    resp = apply(in_process_gateway)
    assert resp.status_code == 503
    assert resp.json()["detail"].startswith("the case could not be started, nothing was kept: connection refused")
    assert fake_temporal.started == {} and stored(in_process_gateway) == ([], [])


def test_a_start_the_engine_cannot_account_for_keeps_the_case_and_says_so(in_process_gateway, fake_temporal):
    fake_temporal.start_error, fake_temporal.start_accepted = LOST_REPLY, True
    fake_temporal.describe_error = ENGINE_DOWN
    resp = apply(in_process_gateway)
    assert resp.status_code == 503
    (case_id,), keys = stored(in_process_gateway)
    assert keys == [case_id] and case_id in fake_temporal.started
    detail = resp.json()["detail"]
    assert detail.startswith(f"case {case_id} is kept, but the workflow engine did not confirm it started")
    assert detail.endswith(f"look at GET /api/v1/cases/{case_id} before applying again")
