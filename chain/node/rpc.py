"""Ethereum JSON-RPC 2.0 methods over a LedgerNode (what web3.py 8 needs, plus Besu's perm_*)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from eth.exceptions import HeaderNotFound, Revert, VMError
from eth_utils import ValidationError

from chain.node import index
from chain.node.db import KVStore
from chain.node.errors import (
    EXECUTION_FAILED,
    EXECUTION_REVERTED,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    LIMIT_EXCEEDED,
    METHOD_NOT_FOUND,
    NOT_AUTHORIZED,
    NOT_FOUND,
    PARSE_ERROR,
    RpcError,
    error_response,
)
from chain.node.evm import call_tx
from chain.node.index import hb
from chain.node.proof import get_proof
from chain.node.rpcutil import address_bytes, data, hash32, qty, revert_message

if TYPE_CHECKING:  # the node starts the server that makes an Rpc: only the type is needed here
    from chain.node.node import LedgerNode

log = logging.getLogger("chain.node.rpc")

CLIENT_VERSION = "onevisit-ledger/0.1.0/py-evm"
PRIORITY_FEE = 1_000_000_000  # what eth_maxPriorityFeePerGas suggests (anvil does the same)
MAX_LOG_RANGE_RESULTS = 100_000
RECEIPT_WAIT_S = 1.0  # the longest a receipt request for a pending transaction waits for its block
MAX_PROOF_KEYS = 256  # storage keys per eth_getProof call: each costs a trie walk


PUBLIC_NAMESPACES = ("web3", "net", "eth")
ADMIN_NAMESPACES = ("perm",)  # served only on the admin interface (loopback, JWT), as Besu's PERM


class Rpc:
    """``admin``: this instance serves the admin interface (perm_*) instead of the public one."""

    def __init__(self, node: LedgerNode, admin: bool = False):
        self.node = node
        served = ADMIN_NAMESPACES if admin else PUBLIC_NAMESPACES
        self.methods: dict[str, Callable[..., Any]] = {
            name.replace("__", "_"): getattr(self, name)
            for name in dir(self)
            if name.split("__")[0] in served and "__" in name
        }
        self.elsewhere = "the public interface" if admin else "the admin interface (loopback, with a JWT)"

    # ---- dispatch ----------------------------------------------------------------------------

    def handle_bytes(self, body: bytes) -> bytes | None:
        try:
            request = json.loads(body)
        except ValueError:
            return json.dumps(error_response(None, PARSE_ERROR, "Parse error")).encode()
        if isinstance(request, list):
            if not request:
                return json.dumps(error_response(None, INVALID_REQUEST, "Invalid Request")).encode()
            out = [r for r in (self.handle(item) for item in request) if r is not None]
            return json.dumps(out).encode() if out else None
        response = self.handle(request)
        return None if response is None else json.dumps(response).encode()

    def handle(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return error_response(None, INVALID_REQUEST, "Invalid Request")
        rid = request.get("id")
        method = self.methods.get(request["method"])
        if method is None:
            if request["method"].split("_")[0] in (*PUBLIC_NAMESPACES, *ADMIN_NAMESPACES):
                return error_response(rid, NOT_AUTHORIZED, f"{request['method']} is served on {self.elsewhere} only")
            return error_response(
                rid, METHOD_NOT_FOUND, f"the method {request['method']} does not exist/is not available"
            )
        params = request.get("params") or []
        if not isinstance(params, list):
            return error_response(rid, INVALID_PARAMS, "params must be an array")
        try:
            result = method(*params)
        except RpcError as exc:
            return error_response(rid, exc.code, exc.message, exc.data)
        except TypeError as exc:
            return error_response(rid, INVALID_PARAMS, f"invalid params: {exc}")
        except Exception as exc:  # pragma: no cover - defensive
            log.exception("%s failed", request["method"])
            return error_response(rid, INTERNAL_ERROR, f"internal error: {exc!r}")
        if "id" not in request:
            return None
        return {"jsonrpc": "2.0", "id": rid, "result": result}

    # ---- helpers -----------------------------------------------------------------------------

    def _number(self, conn, tag: Any = "latest") -> int:
        head = index.head_number(conn)
        if isinstance(tag, dict):
            if "blockHash" in tag:
                row = conn.execute("SELECT number FROM blocks WHERE hash=?", (hash32(tag["blockHash"]),)).fetchone()
                if row is None:
                    raise RpcError(NOT_FOUND, "block not found")
                return row[0]
            tag = tag.get("blockNumber", "latest")
        if tag in (None, "latest", "pending", "safe", "finalized"):
            return head
        if tag == "earliest":
            return 0
        number = qty(tag, "block number")
        if number > head:
            raise RpcError(NOT_FOUND, f"block {number} not found (head is {head})")
        return number

    def _header(self, conn, chain, tag: Any):
        number = self._number(conn, tag)
        try:
            return chain.get_canonical_block_header_by_number(number)
        except HeaderNotFound as exc:
            raise RpcError(NOT_FOUND, f"block {number} not found") from exc

    def _state(self, conn, chain, tag: Any):
        return chain.get_vm(self._header(conn, chain, tag)).state

    # ---- web3 / net --------------------------------------------------------------------------

    def web3__clientVersion(self) -> str:
        return CLIENT_VERSION

    def net__version(self) -> str:
        return str(self.node.chain_id)

    def net__listening(self) -> bool:
        return True

    def net__peerCount(self) -> str:
        return "0x0"

    # ---- eth: chain --------------------------------------------------------------------------

    def eth__chainId(self) -> str:
        return hex(self.node.chain_id)

    def eth__blockNumber(self) -> str:
        with self.node.store.read() as conn:
            return hex(index.head_number(conn))

    def eth__syncing(self) -> bool:
        return False

    def eth__mining(self) -> bool:
        return True

    def eth__accounts(self) -> list:
        return []

    def eth__getBlockByNumber(self, tag: Any = "latest", full: bool = False):
        with self.node.store.read() as conn:
            try:
                number = self._number(conn, tag)
            except RpcError:
                return None
            return index.get_block(conn, number=number, full=bool(full))

    def eth__getBlockByHash(self, block_hash: str, full: bool = False):
        with self.node.store.read() as conn:
            return index.get_block(conn, block_hash=hash32(block_hash), full=bool(full))

    def eth__getBlockTransactionCountByNumber(self, tag: Any = "latest"):
        block = self.eth__getBlockByNumber(tag)
        return None if block is None else hex(len(block["transactions"]))

    # ---- eth: state --------------------------------------------------------------------------

    def eth__getBalance(self, address: str, tag: Any = "latest") -> str:
        with self.node.reader() as (conn, chain):
            return hex(self._state(conn, chain, tag).get_balance(address_bytes(address)))

    def eth__getTransactionCount(self, address: str, tag: Any = "latest") -> str:
        addr = address_bytes(address)
        if tag == "pending":
            return hex(self.node.pending_nonce(addr))
        with self.node.reader() as (conn, chain):
            return hex(self._state(conn, chain, tag).get_nonce(addr))

    def eth__getCode(self, address: str, tag: Any = "latest") -> str:
        with self.node.reader() as (conn, chain):
            return hb(self._state(conn, chain, tag).get_code(address_bytes(address)))

    def eth__getStorageAt(self, address: str, slot: str, tag: Any = "latest") -> str:
        with self.node.reader() as (conn, chain):
            value = self._state(conn, chain, tag).get_storage(address_bytes(address), qty(slot, "slot"))
        return hb(value.to_bytes(32, "big"))

    def eth__getProof(self, address: str, keys: list, tag: Any = "latest") -> dict:
        """EIP-1186: the account and the given storage slots with their Merkle proofs from the
        block's state root (proofs of absence for what is not there)."""
        addr = address_bytes(address)
        if not isinstance(keys, list):
            raise RpcError(INVALID_PARAMS, "storage keys must be an array")
        if len(keys) > MAX_PROOF_KEYS:
            raise RpcError(LIMIT_EXCEEDED, f"too many storage keys: {len(keys)} > {MAX_PROOF_KEYS} per call")
        slots = []
        for key in keys:
            if not (isinstance(key, str) and len(key) <= 66):
                raise RpcError(INVALID_PARAMS, f"invalid storage key: {key!r}")
            slot = qty(key, "storage key")
            if slot < 0:
                raise RpcError(INVALID_PARAMS, f"invalid storage key: {key!r}")
            slots.append((key, slot))
        with self.node.reader() as (conn, chain):
            header = self._header(conn, chain, tag)
            return get_proof(KVStore(conn, writable=False), header.state_root, addr, slots)

    # ---- eth: execution ----------------------------------------------------------------------

    def _execute(self, params: dict, tag: Any, estimate: bool):
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, "transaction object expected")
        with self.node.reader() as (conn, chain):
            header = self._header(conn, chain, tag)
            try:
                tx = call_tx(chain, params, header)
                # py-evm's estimator tries the header's gas limit: cap it there as well
                header = header.copy(gas_limit=min(header.gas_limit, tx.gas))
                if estimate:
                    return chain.estimate_gas(tx, header)
                return chain.get_transaction_result(tx, header)
            except Revert as exc:
                raw = exc.args[0] if exc.args and isinstance(exc.args[0], bytes) else b""
                raise RpcError(EXECUTION_REVERTED, revert_message(raw), hb(raw)) from exc
            except VMError as exc:
                raise RpcError(EXECUTION_FAILED, f"execution failed: {exc!r}") from exc
            except ValidationError as exc:  # e.g. insufficient funds for the value
                raise RpcError(EXECUTION_FAILED, str(exc)) from exc
            except (ValueError, TypeError) as exc:
                raise RpcError(INVALID_PARAMS, f"invalid call: {exc}") from exc

    def eth__call(self, params: dict, tag: Any = "latest", *_overrides: Any) -> str:
        return hb(self._execute(params, tag, estimate=False))

    def eth__estimateGas(self, params: dict, tag: Any = "latest", *_overrides: Any) -> str:
        return hex(self._execute(params, tag, estimate=True))

    # ---- eth: fees ---------------------------------------------------------------------------

    def _next_base_fee(self) -> int:
        with self.node.reader() as (_conn, chain):
            head = chain.get_canonical_head()
            return chain.create_header_from_parent(head).base_fee_per_gas

    def eth__gasPrice(self) -> str:
        return hex(self._next_base_fee() + PRIORITY_FEE)

    def eth__maxPriorityFeePerGas(self) -> str:
        return hex(PRIORITY_FEE)

    def eth__feeHistory(self, count: Any, newest: Any = "latest", percentiles: list | None = None):
        count = max(1, min(qty(count, "block count"), 1024))
        with self.node.store.read() as conn:
            last = self._number(conn, newest)
            first = max(0, last - count + 1)
            rows = conn.execute(
                "SELECT header FROM blocks WHERE number BETWEEN ? AND ? ORDER BY number", (first, last)
            ).fetchall()
        headers = [json.loads(r[0]) for r in rows]
        base_fees = [h.get("baseFeePerGas", "0x0") for h in headers]
        base_fees.append(hex(self._next_base_fee()) if last == self.node.head else base_fees[-1])
        out: dict[str, Any] = {
            "oldestBlock": hex(first),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": [int(h["gasUsed"], 16) / int(h["gasLimit"], 16) for h in headers],
        }
        if percentiles:
            out["reward"] = [[hex(PRIORITY_FEE)] * len(percentiles) for _ in headers]
        return out

    # ---- eth: transactions -------------------------------------------------------------------

    def eth__sendRawTransaction(self, raw: str) -> str:
        return hb(self.node.send_raw_transaction(data(raw, "raw transaction")))

    def eth__getTransactionByHash(self, tx_hash: str):
        h = hash32(tx_hash)
        with self.node.store.read() as conn:
            found = index.get_tx(conn, h)
        if found is not None:
            return found
        with self.node.sealer.lock:
            tx = self.node.sealer.pending_by_hash.get(h)
        return None if tx is None else index.render_tx(tx, None, None)

    def await_pending_receipt(self, body: bytes) -> None:
        """A lone ``eth_getTransactionReceipt`` for a transaction pending in this node's pool waits
        up to RECEIPT_WAIT_S for its block, so a client polling for its receipt gets it in one
        request instead of a run of nulls (the answer is the same, only later; Besu and anvil
        answer at once, and a client polls them as before)."""
        if len(body) > 512 or b"eth_getTransactionReceipt" not in body:
            return
        try:
            request = json.loads(body)
            tx_hash = hash32(request["params"][0])
        except Exception:  # noqa: BLE001 - not a well-formed receipt request: handled (and refused) as usual
            return
        if not isinstance(request, dict) or request.get("method") != "eth_getTransactionReceipt":
            return
        sealer = self.node.sealer
        with sealer.lock:
            sealer.lock.wait_for(lambda: tx_hash not in sealer.pending_by_hash, timeout=RECEIPT_WAIT_S)

    def eth__getTransactionReceipt(self, tx_hash: str):
        with self.node.store.read() as conn:
            return index.get_receipt(conn, hash32(tx_hash))

    def eth__getBlockReceipts(self, tag: Any = "latest"):
        with self.node.store.read() as conn:
            try:
                number = self._number(conn, tag)
            except RpcError:
                return None
            return index.get_block_receipts(conn, number)

    def eth__getLogs(self, flt: dict):
        if not isinstance(flt, dict):
            raise RpcError(INVALID_PARAMS, "filter object expected")
        address = flt.get("address")
        addresses = [address] if isinstance(address, str) else list(address or [])
        topics: list[list[bytes] | None] = []
        for t in flt.get("topics") or []:
            if t is None:
                topics.append(None)
            elif isinstance(t, str):
                topics.append([hash32(t)])
            else:
                topics.append([hash32(x) for x in t] or None)
        block_hash = hash32(flt["blockHash"]) if flt.get("blockHash") else None
        with self.node.store.read() as conn:
            head = index.head_number(conn)
            lo, hi = (self._log_bound(flt.get("fromBlock"), head), self._log_bound(flt.get("toBlock"), head))
            try:
                return index.get_logs(
                    conn,
                    lo,
                    min(hi, head),
                    [address_bytes(a) for a in addresses],
                    topics,
                    block_hash=block_hash,
                    limit=MAX_LOG_RANGE_RESULTS,
                )
            except OverflowError as exc:
                raise RpcError(LIMIT_EXCEEDED, str(exc)) from exc

    @staticmethod
    def _log_bound(tag: Any, head: int) -> int:
        if tag in (None, "latest", "pending", "safe", "finalized"):
            return head
        return 0 if tag == "earliest" else qty(tag, "block number")

    # ---- perm (Besu) -------------------------------------------------------------------------

    def perm__getAccountsAllowlist(self) -> list[str]:
        return sorted(self.node.allowlist)

    def perm__addAccountsToAllowlist(self, addresses: list[str]) -> str:
        self.node.change_allowlist(list(addresses), add=True)
        return "Success"

    def perm__removeAccountsFromAllowlist(self, addresses: list[str]) -> str:
        self.node.change_allowlist(list(addresses), add=False)
        return "Success"
