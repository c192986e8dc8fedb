"""Hostile bytes from an outsider on the network, at the real gateway and the real ledger node of
a running stack: refused with a status and a message, and every process goes on serving."""

from __future__ import annotations

import json

import pytest

from tests.fixtures.http import loopback
from tests.fixtures.stack import application

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("stack")]

NESTED = b"[" * 100_000 + b"]" * 100_000  # 200 KB: once enough to kill the gateway and the node


def serves(stack) -> None:
    assert loopback.get(f"{stack.url}/healthz", timeout=30).status_code == 200
    resp = loopback.post(f"{stack.url}/api/v1/cases", json=application(), headers=stack.token("applicant"), timeout=60)
    assert resp.status_code == 201


def test_deep_nesting_without_a_token_is_400_and_the_gateway_serves_on(stack):
    for headers in ({"content-type": "application/json"}, {}):
        resp = loopback.post(f"{stack.url}/api/v1/cases", content=NESTED, headers=headers, timeout=60)
        assert resp.status_code in (400, 413), resp.text
    small_nest = b'{"company":' + b"[" * 1000 + b"]" * 1000 + b"}"
    resp = loopback.post(
        f"{stack.url}/api/v1/cases", content=small_nest, headers={"content-type": "application/json"}, timeout=60
    )
    assert resp.status_code == 400 and "deeper than 64" in resp.json()["detail"]
    serves(stack)


def test_bodies_over_a_routes_limit_are_413_before_they_are_read(stack):
    huge = loopback.post(
        f"{stack.url}/api/v1/cases",
        content=b"x" * (300 * 1024),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert huge.status_code == 413 and "at most 262144" in huge.json()["detail"]
    login = loopback.post(
        f"{stack.url}/api/v1/auth/token", data={"username": "applicant", "password": "p" * 20_000}, timeout=60
    )
    assert login.status_code == 413
    serves(stack)


def test_the_ledger_node_refuses_nesting_and_serves_on(stack):
    rpc = stack.health["ledger_rpc"]
    resp = loopback.post(
        rpc,
        content=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":' + NESTED + b"}",
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert resp.status_code == 400
    chain_id = loopback.post(rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=30)
    assert chain_id.json()["result"] == hex(stack.health["chain_id"])
    serves(stack)


def test_an_outsider_cannot_change_the_ledgers_allowlist(stack):
    rpc = stack.health["ledger_rpc"]
    outsider = "0x" + "11" * 20
    for method in ("perm_addAccountsToAllowlist", "perm_removeAccountsFromAllowlist"):
        some_account = outsider if method.startswith("perm_add") else stack.deployment()["agencies"]["tax"]["account"]
        answer = loopback.post(
            rpc, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": [[some_account]]}, timeout=30
        ).json()
        assert "admin interface" in answer["error"]["message"]
    admin = json.loads((stack.data_dir / "run" / "ledger.json").read_text())["admin_url"]
    assert admin.startswith("http://127.0.0.1:")
    refused = loopback.post(
        admin, json={"jsonrpc": "2.0", "id": 1, "method": "perm_getAccountsAllowlist", "params": []}, timeout=30
    )
    assert refused.status_code == 401
    serves(stack)  # the tax agency still anchors: its account is still allowed
