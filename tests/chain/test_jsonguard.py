"""The bounds every network edge checks before parsing JSON: nesting depth counted without
recursion (brackets inside strings ignored), size, and the ASGI middleware's answers."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from chain.jsonguard import BodyLimit, JsonTooDeep, JsonTooLarge, check_json, loads, nesting_depth

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\u4e2d'),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=30,
)


def depth_of(value) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    return 0


@given(json_values, st.booleans())
def test_depth_matches_the_parsed_structure_whatever_the_strings_hold(value, ascii_only):
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    assert nesting_depth(raw, 10_000) == depth_of(value)


@pytest.mark.parametrize(
    "raw, depth",
    [
        (b'"[[[[{{{{"', 0),
        (b'["\\\\", [1]]', 2),  # an escaped backslash ends before the quote
        (b'["a\\"[[[["]', 1),  # an escaped quote does not end the string
        (b'{"k": "\\u005b"}', 1),
    ],
)
def test_strings_and_escapes(raw, depth):
    assert nesting_depth(raw) == depth


def test_a_deep_nest_is_refused_before_parsing_and_the_count_stops_early():
    hostile = b"[" * 200_000 + b"]" * 200_000
    assert nesting_depth(hostile, 64) == 65
    with pytest.raises(JsonTooDeep, match="deeper than 64"):
        loads(hostile, 1 << 20)


def test_size_is_checked_first():
    with pytest.raises(JsonTooLarge, match="at most 10 are accepted"):
        check_json(b"[" + b"1," * 10 + b"1]", 10)
    assert loads(b'{"a": [1, {"b": 2}]}', 100) == {"a": [1, {"b": 2}]}


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.post("/small")
    async def small(body: dict) -> dict:
        return body

    @app.post("/large")
    async def large(body: dict) -> dict:
        return {"keys": len(body)}

    app.add_middleware(BodyLimit, limit_for=lambda _m, path: 1000 if path == "/small" else 100_000)
    return app


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=echo_app()), base_url="http://t") as c:
        yield c


async def test_middleware_answers_413_per_route_400_for_nesting_and_passes_the_rest(client):
    big = {"x": "a" * 5000}
    too_big = await client.post("/small", json=big)
    assert too_big.status_code == 413 and "at most 1000" in too_big.json()["detail"]
    assert (await client.post("/large", json=big)).json() == {"keys": 1}
    nested = b'{"a":' + b"[" * 100 + b"]" * 100 + b"}"
    deep = await client.post("/large", content=nested, headers={"content-type": "application/json"})
    assert deep.status_code == 400 and "deeper than 64" in deep.json()["detail"]
    untyped = await client.post("/large", content=nested)  # FastAPI would parse it as JSON all the same
    assert untyped.status_code == 400
    assert (await client.post("/small", json={"ok": [1, [2]]})).json() == {"ok": [1, [2]]}


async def test_a_chunked_body_is_cut_off_at_the_limit(client):
    async def chunks():
        for _ in range(100):
            yield b"a" * 100

    resp = await client.post("/small", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
