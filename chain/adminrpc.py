"""A client of a ledger node's admin interface: the account allowlist (perm_*).

Both nodes serve it apart from the public JSON-RPC and only with a JWT signed (ES256) by the
operator's key: our embedded node on a loopback HTTP port (``python -m chain.node
--admin-jwt-public-key``), Hyperledger Besu on its WebSocket interface bound to loopback
(``rpc-ws-authentication-jwt-public-key-file``, as deploy/besu/generate.py configures it). Each
call carries a fresh token living ``lifetime_s`` seconds.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chain import jsonguard
from chain.errors import ChainError, LedgerUnavailable

ALGORITHM = "ES256"
MAX_ANSWER = 16 * 1024 * 1024


def new_admin_key() -> tuple[bytes, bytes]:
    """A fresh operator key for an admin interface: (private PEM, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


class AdminRpc:
    def __init__(self, url: str, private_key_pem: bytes, lifetime_s: int = 60, timeout: float = 30.0):
        self.url = url
        self._key = serialization.load_pem_private_key(private_key_pem, None)
        self.lifetime_s = lifetime_s
        self.timeout = timeout
        self._ids = itertools.count(1)

    def token(self) -> str:
        now = int(time.time())
        return jwt.encode({"iat": now, "exp": now + self.lifetime_s}, self._key, algorithm=ALGORITHM)

    def call(self, method: str, params: list[Any]) -> Any:
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        headers = {"Authorization": f"Bearer {self.token()}"}
        try:
            answer = (
                self._ws(request, headers) if self.url.startswith(("ws://", "wss://")) else self._http(request, headers)
            )
        except (httpx.HTTPError, OSError) as exc:
            raise LedgerUnavailable(f"the ledger's admin interface at {self.url} is unreachable: {exc}") from exc
        if "error" in answer:
            raise ChainError(f"{method} refused by {self.url}: {answer['error'].get('message')}")
        return answer["result"]

    def _http(self, request: dict, headers: dict[str, str]) -> dict:
        resp = httpx.post(self.url, json=request, headers=headers, timeout=self.timeout)
        try:
            return jsonguard.loads(resp.content, MAX_ANSWER)
        except ValueError as exc:
            raise ChainError(
                f"the admin interface at {self.url} answered HTTP {resp.status_code}: {resp.text[:200]}"
            ) from exc

    def _ws(self, request: dict, headers: dict[str, str]) -> dict:
        from websockets.sync.client import connect

        with connect(self.url, additional_headers=headers, open_timeout=self.timeout) as ws:
            ws.send(json.dumps(request))
            answer = ws.recv(timeout=self.timeout)
        return jsonguard.loads(answer.encode() if isinstance(answer, str) else answer, MAX_ANSWER)

    # ---- what OneVisit uses ------------------------------------------------------------------
    def allow_accounts(self, addresses: list[str]) -> None:
        """Admit accounts to send transactions (perm_addAccountsToAllowlist, Besu's and ours)."""
        self.call("perm_addAccountsToAllowlist", [addresses])

    def allowlist(self) -> list[str]:
        return self.call("perm_getAccountsAllowlist", [])
