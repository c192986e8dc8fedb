"""The allowlist is the permissioned ledger's gate: only the operator may change it. The public
interface refuses perm_*; the admin interface listens on loopback and refuses any call without a
JWT that the operator's ES256 key signed (expired, too long-lived, another key, HMAC with the
public key as secret, alg none)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from chain.adminrpc import AdminRpc, new_admin_key
from chain.errors import ChainError
from chain.node import LedgerNode
from tests.chain.conftest import ADMIN_KEY


def perm(url: str, method: str, params: list, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, headers=headers, timeout=30
    )


def signed(claims: dict, key_pem: bytes = ADMIN_KEY[0]) -> str:
    return jwt.encode(claims, serialization.load_pem_private_key(key_pem, None), algorithm="ES256")


def hmac_with_public_key(claims: dict) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the (public) verification key."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." + b64(json.dumps(claims).encode())
    return head + "." + b64(hmac.new(ADMIN_KEY[1], head.encode(), hashlib.sha256).digest())


def fresh(lifetime: int = 60, **extra) -> dict:
    now = int(time.time())
    return {"iat": now, "exp": now + lifetime, **extra}


def test_the_public_interface_does_not_serve_the_allowlist(node, accounts):
    mallory = accounts[3].address
    for method in ("perm_addAccountsToAllowlist", "perm_removeAccountsFromAllowlist"):
        answer = perm(node.url, method, [[mallory]], token=signed(fresh())).json()
        assert "admin interface" in answer["error"]["message"]
    assert mallory.lower() not in node.allowlist
    assert node.admin_url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    "forge, why",
    [  # tokens are made when the test runs (collection order and time differ between xdist workers)
        pytest.param(lambda: None, "needs Authorization: Bearer", id="no-token"),
        pytest.param(lambda: "not-a-jwt", "admin JWT refused", id="not-a-jwt"),
        pytest.param(lambda: signed(fresh(), new_admin_key()[0]), "Signature verification failed", id="another-key"),
        pytest.param(lambda: hmac_with_public_key(fresh()), "admin JWT refused", id="hs256-with-the-public-key"),
        pytest.param(lambda: jwt.encode(fresh(), None, algorithm="none"), "admin JWT refused", id="alg-none"),
        pytest.param(lambda: signed({"iat": 0, "exp": 60}), "expired", id="expired"),
        pytest.param(lambda: signed(fresh(lifetime=30 * 24 * 3600)), "at most 3600 s", id="lives-30-days"),
        pytest.param(lambda: signed({"exp": int(time.time()) + 60}), "iat", id="no-iat"),
    ],
)
def test_the_admin_interface_refuses_every_call_without_the_operators_jwt(node, accounts, forge, why):
    resp = perm(node.admin_url, "perm_addAccountsToAllowlist", [[accounts[3].address]], token=forge())
    assert resp.status_code == 401 and why in resp.json()["error"]["message"]
    assert accounts[3].address.lower() not in node.allowlist


def test_the_operator_changes_the_allowlist_and_only_perm_is_served_there(node, accounts, admin_rpc):
    admin_rpc.allow_accounts([accounts[3].address])
    assert accounts[3].address.lower() in admin_rpc.allowlist()
    with pytest.raises(ChainError, match="public interface"):
        admin_rpc.call("eth_chainId", [])


def test_without_an_operator_key_the_allowlist_cannot_change_over_the_network(data_dir, genesis, accounts):
    node = LedgerNode(data_dir, genesis=genesis)
    try:
        node.start()
        assert node.admin_url is None
        answer = perm(node.url, "perm_addAccountsToAllowlist", [[accounts[3].address]]).json()
        assert "admin interface" in answer["error"]["message"]
    finally:
        node.stop()


def test_a_client_with_another_key_is_refused_by_name(node):
    with pytest.raises(ChainError, match="refused"):
        AdminRpc(node.admin_url, new_admin_key()[0]).allowlist()
