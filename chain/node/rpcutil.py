"""Parameter parsing and error shapes for the JSON-RPC layer."""

from __future__ import annotations

from typing import Any

from chain.node.node import INVALID_PARAMS
from chain.node.sealer import RpcError


def qty(value: Any, name: str = "quantity") -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise RpcError(INVALID_PARAMS, f"invalid {name}: {value!r}")


def data(value: Any, name: str = "data") -> bytes:
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        try:
            return bytes.fromhex(value[2:])
        except ValueError:
            pass
    raise RpcError(INVALID_PARAMS, f"invalid {name}: {value!r}")


def hash32(value: Any) -> bytes:
    out = data(value, "hash")
    if len(out) != 32:
        raise RpcError(INVALID_PARAMS, f"invalid hash: {value!r}")
    return out


def revert_message(raw: bytes) -> str:
    if raw[:4] == bytes.fromhex("08c379a0"):
        try:
            from eth_abi import decode

            return "execution reverted: " + decode(["string"], raw[4:])[0]
        except Exception:
            pass
    return "execution reverted"


def error(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": err}
