"""GET /api/v1/cases/{id}/events: the case now and at each change, as server-sent events, served for
real (uvicorn on loopback) over the in-process gateway, with the engine's records written into
the store by hand. Idle watchers hold no database connection and cost one store query per look."""

from __future__ import annotations

import asyncio
import json

import httpx

from gateway.casework import record_case
from tests.fixtures.http import serving
from workflows.engine import CaseWorkflow


def recorder(gw, fake_temporal, case_id: str):
    """Record statuses of ``case_id`` as the engine would (the revision goes up each time)."""
    status = CaseWorkflow(fake_temporal.started[case_id]).status()

    def record(state: str, **steps: str) -> None:
        status.revision += 1
        status.state = state
        for st in status.steps:
            st.state = steps.get(st.step, st.state)
        with gw.session() as session:
            record_case(session, status)

    return record


async def events(http: httpx.AsyncClient, case_id: str, headers: dict, out: list[dict]) -> None:
    async with http.stream("GET", f"/api/v1/cases/{case_id}/events", headers=headers) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        kind = None
        async for line in resp.aiter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert kind == "case"
                out.append(json.loads(line.removeprefix("data: ")))


async def until(predicate, what: str) -> None:
    async with asyncio.timeout(60):  # guards a hang only: the feed looks every 0.25 s
        while not predicate():
            await asyncio.sleep(0.02)


def test_a_watcher_gets_the_case_then_each_change_until_it_ends(in_process_gateway, fake_temporal):
    gw = in_process_gateway
    case_id, headers = gw.open_case(), gw.login("applicant")
    record = recorder(gw, fake_temporal, case_id)

    async def watch(url: str) -> list[dict]:
        seen: list[dict] = []
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            stream = asyncio.create_task(events(http, case_id, headers, seen))
            await until(lambda: len(seen) == 1, "the case as it is")
            record("running", name_check="completed")
            await until(lambda: len(seen) == 2, "the first change")
            record("completed", **{s: "completed" for s in ("business_licence", "seal_approval")})
            await asyncio.wait_for(stream, 60)  # the stream ends with the case
        return seen

    with serving(gw.http.app) as url:
        seen = asyncio.run(watch(url))
    assert [c["status"] for c in seen] == ["running", "running", "completed"]
    assert [c["steps"][0]["state"] for c in seen] == ["running", "completed", "completed"]
    assert seen[-1] == gw.http.get(f"/api/v1/cases/{case_id}", headers=headers).json()


def test_only_those_who_may_see_the_case_may_watch_it(in_process_gateway):
    gw = in_process_gateway
    case_id = gw.open_case()
    gw.add_user("applicant-2", "applicant")
    with serving(gw.http.app) as url:
        for headers, expected in (
            ({}, 401),
            ({"Authorization": "Bearer not-a-token"}, 401),
            (gw.login("applicant-2"), 404),
            (gw.login("clerk-bank"), 404),  # the bank holds no step of a case without a bank account
        ):
            resp = httpx.get(f"{url}/api/v1/cases/{case_id}/events", headers=headers, timeout=30)
            assert resp.status_code == expected, (headers, resp.text)
        assert httpx.get(f"{url}/api/v1/cases/NO-SUCH-CASE/events", headers=gw.login("auditor")).status_code == 404


def test_idle_watchers_hold_no_database_connection_and_share_one_look(in_process_gateway, fake_temporal):
    gw = in_process_gateway
    case_id, headers = gw.open_case(), gw.login("applicant")
    record = recorder(gw, fake_temporal, case_id)
    app = gw.http.app

    async def many(url: str) -> tuple[int, int, list[int]]:
        seen: list[list[dict]] = [[] for _ in range(150)]
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http:
            streams = [asyncio.create_task(events(http, case_id, headers, s)) for s in seen]
            await until(lambda: all(len(s) == 1 for s in seen), "every watcher's first event")
            checked_out = []  # idle: several looks of the feed, each on one connection for a moment
            for _ in range(20):
                checked_out.append(app.state.engine.pool.checkedout())
                await asyncio.sleep(0.05)
            watchers = app.state.case_feed.watchers
            record("completed", name_check="completed")
            await asyncio.wait_for(asyncio.gather(*streams), 60)
        return checked_out, watchers, [len(s) for s in seen]

    with serving(app) as url:
        checked_out, watchers, counts = asyncio.run(many(url))
    # 150 watchers and no connection held, but the feed's one shared look now and then
    assert (watchers, min(checked_out)) == (150, 0) and max(checked_out) <= 1, checked_out
    assert counts == [2] * 150  # each saw the case, then its end
    assert app.state.case_feed.watchers == 0
