"""The cases routes in-process (a fake Temporal client): opening a case, and reading its
application before and after the person's data is erased (who may read how much of it:
``test_application_access.py``)."""

from __future__ import annotations

from sqlmodel import select

from gateway.store import CaseKey
from tests.fixtures.stack import application


def test_a_new_case_starts_its_workflow_and_shows_its_first_step_running(in_process_gateway, fake_temporal):
    """Read from the store, not the engine: the step that depends on nothing runs, the rest wait."""
    gw = in_process_gateway
    resp = gw.http.post("/api/v1/cases", json=application(), headers=gw.login("applicant"))
    case = resp.json()
    assert resp.status_code == 201 and case["status"] == "running"
    assert case["case_id"] in fake_temporal.started
    assert [s["state"] for s in case["steps"]] == ["running"] + ["waiting"] * 6


def test_the_applicant_reads_the_application_as_submitted(in_process_gateway, fake_temporal):
    case_id = in_process_gateway.open_case()
    headers = in_process_gateway.login("applicant")
    resp = in_process_gateway.http.get(f"/api/v1/cases/{case_id}/application", headers=headers)
    assert resp.status_code == 200 and resp.json() == fake_temporal.started[case_id].application


def test_an_auditor_may_not_read_the_application(in_process_gateway):
    case_id = in_process_gateway.open_case()
    gw = in_process_gateway
    resp = gw.http.get(f"/api/v1/cases/{case_id}/application", headers=gw.login("auditor"))
    assert resp.status_code == 403
    assert resp.json() == {"detail": "auditors verify trails; they do not read personal data"}


def test_an_erased_application_is_gone_and_the_case_remains(in_process_gateway):
    case_id = in_process_gateway.open_case()
    with in_process_gateway.session() as session:
        session.delete(session.exec(select(CaseKey).where(CaseKey.case_id == case_id)).one())
        session.commit()
    headers = in_process_gateway.login("applicant")
    resp = in_process_gateway.http.get(f"/api/v1/cases/{case_id}/application", headers=headers)
    assert resp.status_code == 410 and resp.json() == {"detail": "this application's personal data has been erased"}
    assert in_process_gateway.http.get(f"/api/v1/cases/{case_id}", headers=headers).status_code == 200


async def test_many_reads_at_once_are_all_answered_promptly(in_process_gateway):
    """More requests at once than request threads: none waits for a database connection held by
    another that waits for a thread (with a pool smaller than the threads, they timed out at 30 s)."""
    import asyncio

    import httpx

    case_id = in_process_gateway.open_case()
    headers = in_process_gateway.login("applicant")
    transport = httpx.ASGITransport(app=in_process_gateway.http.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=60) as http:
        async with asyncio.timeout(25):  # under the pool's 30 s timeout: a starved read fails here
            answers = await asyncio.gather(*(http.get(f"/api/v1/cases/{case_id}", headers=headers) for _ in range(120)))
    assert [r.status_code for r in answers] == [200] * 120
