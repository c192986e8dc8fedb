"""Hostile bytes at the ledger node's JSON-RPC: deep nesting, oversized bodies and gas-hungry
calls are refused with a message, and the node goes on serving."""

from __future__ import annotations

import httpx

from chain.node.evm import CALL_GAS_CAP
from chain.node.server import MAX_BODY


def rpc(url: str, method: str, *params, **kw) -> httpx.Response:
    return httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=120, **kw
    )


def still_serves(url: str) -> None:
    assert rpc(url, "eth_chainId").json()["result"] == hex(1337)


def test_deep_nesting_is_refused_and_the_node_serves_on(node):
    hostile = b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    resp = httpx.post(node.url, content=hostile, headers={"content-type": "application/json"}, timeout=60)
    assert resp.status_code == 400
    assert "deeper than 64" in resp.json()["error"]["message"]
    still_serves(node.url)


def test_a_refusal_says_it_closes_so_a_pooled_client_serves_on(node):
    # one client keeps its connections: a refusal that closed without saying so left its next
    # request on a dying connection ("server disconnected without sending a response")
    with httpx.Client(timeout=60) as client:
        for _ in range(20):
            refused = client.post(
                node.url, content=b"[" * 100 + b"]" * 100, headers={"content-type": "application/json"}
            )
            assert refused.status_code == 400 and refused.headers["connection"] == "close"
            answer = client.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
            assert answer.json()["result"] == hex(1337)
            assert "connection" not in answer.headers  # a good answer keeps its connection


def test_an_oversized_body_is_refused_unread(node):
    resp = httpx.post(node.url, content=b" " * (MAX_BODY + 1), headers={"content-type": "application/json"}, timeout=60)
    assert resp.status_code == 413
    assert "request body over" in resp.json()["error"]["message"]
    still_serves(node.url)


# init code that loops forever: JUMPDEST; PUSH1 0; JUMP
FOREVER = "0x5b600056"


def test_calls_without_gas_are_capped_not_run_to_the_block_limit(node):
    for method in ("eth_call", "eth_estimateGas"):
        body = rpc(node.url, method, {"data": FOREVER}).json()
        assert "error" in body, body  # out of gas at the cap, not 60M gas of work
    asked_more = rpc(node.url, "eth_estimateGas", {"data": FOREVER, "gas": hex(60_000_000)}).json()
    assert "error" in asked_more
    fits = rpc(node.url, "eth_estimateGas", {"data": "0x6001600055"}).json()  # SSTORE: well under the cap
    assert int(fits["result"], 16) < CALL_GAS_CAP
    still_serves(node.url)
