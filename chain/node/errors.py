"""The node's JSON-RPC errors: one exception, its codes by name, and the response it becomes.

Codes follow JSON-RPC 2.0 (-32700 to -32603), EIP-1474 (-32000 to -32005), geth (3: execution
reverted, with the revert data) and Besu (-32007: sender not on the allowlist), so that web3.py
raises for them as it does against those nodes.
"""

from __future__ import annotations

from typing import Any

# JSON-RPC 2.0
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# EIP-1474, geth, Besu
EXECUTION_REVERTED = 3
EXECUTION_FAILED = -32000
NOT_FOUND = -32001
TX_REJECTED = -32003
LIMIT_EXCEEDED = -32005
NOT_AUTHORIZED = -32007


class RpcError(Exception):
    """A request the node refuses; the dispatcher answers it as a JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: str | None = None):
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def error_response(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}


__all__ = [
    "EXECUTION_FAILED",
    "EXECUTION_REVERTED",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "LIMIT_EXCEEDED",
    "METHOD_NOT_FOUND",
    "NOT_AUTHORIZED",
    "NOT_FOUND",
    "PARSE_ERROR",
    "RpcError",
    "TX_REJECTED",
    "error_response",
]
