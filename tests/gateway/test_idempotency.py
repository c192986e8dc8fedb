"""POST /api/v1/cases with an Idempotency-Key (a fake Temporal client): a retried request returns the
case the first one opened, never a second case or workflow; the same key with another application
is refused; two at once open one case."""

from __future__ import annotations

import asyncio

import httpx
from sqlmodel import select

from gateway.store import Case, IdempotentRequest
from tests.fixtures.stack import application

from .test_case_start import ENGINE_DOWN, stored


def post(gw, app: dict, key: str | None, user: str = "applicant") -> httpx.Response:
    headers = gw.login(user) | ({"Idempotency-Key": key} if key else {})
    return gw.http.post("/api/v1/cases", json=app, headers=headers)


def test_a_replayed_request_returns_the_first_case_and_starts_nothing_more(in_process_gateway, fake_temporal):
    app = application()
    first, again = post(in_process_gateway, app, "retry-0001"), post(in_process_gateway, app, "retry-0001")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["case_id"] == first.json()["case_id"] and again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert list(fake_temporal.started) == [first.json()["case_id"]]
    assert stored(in_process_gateway)[0] == [first.json()["case_id"]]


def test_the_same_key_with_another_application_is_refused_and_nothing_is_stored(in_process_gateway, fake_temporal):
    first = post(in_process_gateway, application(), "retry-0002")
    other = post(in_process_gateway, application(), "retry-0002")  # another company name
    assert first.status_code == 201 and other.status_code == 422
    [error] = other.json()["detail"]  # in the shape of every 422, naming the header
    assert error["loc"] == ["header", "idempotency-key"] and error["msg"].startswith("Idempotency-Key: ")
    assert stored(in_process_gateway)[0] == [first.json()["case_id"]] and len(fake_temporal.started) == 1


def test_keys_are_per_applicant_and_without_a_key_every_request_is_new(in_process_gateway, fake_temporal):
    in_process_gateway.add_user("applicant-2", "applicant")
    app = application()
    mine, theirs = (
        post(in_process_gateway, app, "shared-key-1"),
        post(in_process_gateway, app, "shared-key-1", "applicant-2"),
    )
    assert mine.json()["case_id"] != theirs.json()["case_id"]
    plain = [post(in_process_gateway, application(), None) for _ in range(2)]
    assert len({r.json()["case_id"] for r in plain}) == 2 and len(fake_temporal.started) == 4


def test_a_malformed_key_is_a_422_naming_the_header(in_process_gateway, fake_temporal):
    for key in ("short", "x" * 129, "has space in it", "semi;colon;key"):
        resp = post(in_process_gateway, application(), key)
        assert resp.status_code == 422, key
        assert [e["loc"] for e in resp.json()["detail"]] == [["header", "idempotency-key"]]
    assert stored(in_process_gateway) == ([], []) and not fake_temporal.started


def test_a_start_that_failed_frees_its_key_for_the_retry(in_process_gateway, fake_temporal):
    fake_temporal.start_error = ENGINE_DOWN
    app = application()
    assert post(in_process_gateway, app, "retry-0003").status_code == 503
    fake_temporal.start_error = None
    retried = post(in_process_gateway, app, "retry-0003")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert list(fake_temporal.started) == [retried.json()["case_id"]]


async def test_two_requests_with_one_key_at_once_open_one_case(in_process_gateway, fake_temporal):
    app, headers = application(), in_process_gateway.login("applicant") | {"Idempotency-Key": "race-00001"}
    transport = httpx.ASGITransport(app=in_process_gateway.http.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
        answers = await asyncio.gather(*(http.post("/api/v1/cases", json=app, headers=headers) for _ in range(8)))
    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.json()["case_id"] for r in answers}) == 1 and len(fake_temporal.started) == 1
    with in_process_gateway.session() as session:
        assert len(session.exec(select(Case)).all()) == len(session.exec(select(IdempotentRequest)).all()) == 1
