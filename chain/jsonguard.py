"""Bounds on untrusted JSON, checked before any parser sees it.

py_ecc (imported through web3 and py-evm) raises Python's recursion limit to 100000, so
``json.loads`` of ``[[[[…]]]]`` overflows the C stack and kills the process instead of raising.
Every network edge (the ledger node's JSON-RPC, the gateway, agency services) therefore checks
size and nesting first: ``check_json`` for raw bytes, ``BodyLimit`` for ASGI apps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

MAX_DEPTH = 64  # no request of ours nests deeper than about 6
_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


class JsonRefused(ValueError):
    """Input refused before parsing; ``status`` is the HTTP status that says why."""

    status = 400


class JsonTooLarge(JsonRefused):
    status = 413


class JsonTooDeep(JsonRefused):
    status = 400


def nesting_depth(raw: bytes, stop_above: int = MAX_DEPTH) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (brackets inside strings do not count),
    or a number above ``stop_above`` as soon as that is passed. Linear, never recursive."""
    depth = deepest = 0
    in_string = False
    skip = -1  # index of a character escaped by a backslash
    for m in _STRUCTURE.finditer(raw):
        pos = m.start()
        if pos == skip:
            continue
        ch = raw[pos]
        if in_string:
            if ch == 0x5C:  # backslash: the next character is escaped
                skip = pos + 1
            elif ch == 0x22:
                in_string = False
            continue
        if ch == 0x22:
            in_string = True
        elif ch in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_above:
                    return deepest
        elif ch in (0x5D, 0x7D):
            depth -= 1
    return deepest


def check_json(raw: bytes, max_bytes: int, max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonTooLarge or JsonTooDeep, with a message for the sender, unless ``raw`` is within
    bounds (whether it is valid JSON is the parser's business afterwards)."""
    if len(raw) > max_bytes:
        raise JsonTooLarge(f"request body is {len(raw)} bytes; at most {max_bytes} are accepted here")
    if nesting_depth(raw, max_depth) > max_depth:
        raise JsonTooDeep(f"request body nests deeper than {max_depth} levels")


def loads(raw: bytes, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    check_json(raw, max_bytes, max_depth)
    return json.loads(raw)


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: a request body larger than ``limit_for(method, path)`` is answered 413
    (from Content-Length before reading, or as soon as the body passes the limit), and a JSON body
    nested deeper than ``max_depth`` 400, before the app or its parser sees a byte of it."""

    def __init__(self, app, limit_for: Callable[[str, str], int], max_depth: int = MAX_DEPTH):
        self.app = app
        self.limit_for = limit_for
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["method"], scope["path"])
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            await _refuse(send, 400, "Content-Length is not a number")
            return
        if declared > limit:
            await _refuse(send, 413, f"request body is {declared} bytes; at most {limit} are accepted here")
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _refuse(send, 413, f"request body is over {limit} bytes, the most accepted here")
                return
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        form = headers.get(b"content-type", b"").startswith((b"application/x-www-form-urlencoded", b"multipart/"))
        if not form and nesting_depth(body, self.max_depth) > self.max_depth:  # FastAPI parses the rest as JSON
            await _refuse(send, 400, f"request body nests deeper than {self.max_depth} levels")
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
