"""The ledger client: deploy, register agencies, anchor handoffs and read anchors back.

Plain Ethereum JSON-RPC through web3, so the same code talks to the embedded py-evm node, to
anvil in integration tests and to Hyperledger Besu in production. Contract ABIs come from the
compiled artifacts in ``chain/artifacts`` (built from ``contracts/*.vy``).

What it reads back (Deployment, Anchor, BatchAnchor) is plain data, kept in ``chain.anchors``.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import requests
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError

from chain import artifacts
from chain.anchors import Anchor, BatchAnchor, Deployment, SignerSchedule
from chain.errors import AnchorRefused, AnchorTimeout, ChainError, LedgerUnavailable
from chain.handoff import agency_id, step_id
from chain.hexid import from_hex, to_hex

ANCHOR_GAS = 250_000
ADMIN_GAS = 400_000
DEPLOY_GAS = 5_000_000
ROTATION_BLOCKS = 20  # by default a new signing key takes over this many blocks after the head
TIP = 1_000_000_000  # 1 gwei to the block's producer, where the chain charges fees at all
FEES_FOR_S = 2.0  # how long a sender reuses the fee fields it read (re-read at once when refused)
ANCHOR_SELECTOR = function_signature_to_4byte_selector("anchor(bytes32,bytes32,bytes32)")
ANCHOR_AFTER_SELECTOR = function_signature_to_4byte_selector("anchor_after(bytes32,bytes32,bytes32,bytes32[])")
ANCHOR_AFTER_GAS = 5_000  # more per handoff an anchor follows (a cold storage read and the calldata)
MAX_AFTER = 64  # HandoffLedger's bound on the handoffs one anchor follows
HANDOFF_ANCHORED = keccak(text="HandoffAnchored(bytes32,bytes32,bytes32,bytes32,address)")
SIGNER_ROTATED = keccak(text="SignerRotated(bytes32,address,address,uint256)")


def _anchor_args(handoff_hash: str, flow: str, step: str, case_commitment: str) -> bytes:
    """The three static arguments both anchor calls begin with, ABI-encoded."""
    return from_hex(handoff_hash, "handoff hash") + step_id(flow, step) + from_hex(case_commitment, "case commitment")


def connect(url: str, timeout: float = 30.0) -> Web3:
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))
    try:
        _ = w3.eth.chain_id  # one round trip: is it there at all
    except (requests.ConnectionError, requests.Timeout, OSError) as exc:
        raise LedgerUnavailable(f"ledger at {url} is unreachable: {exc}") from exc
    return w3


def fees(w3: Web3) -> dict[str, int]:
    """The EIP-1559 fee fields of every transaction we send: up to twice the latest base fee plus
    the tip, so that it stays valid while the base fee rises for a few blocks; zero on a chain
    whose base fee is zero (Besu's free-gas networks)."""
    base = w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
    tip = TIP if base else 0
    return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}


def _receipt_of(tx_hash: str, receipt: Any) -> dict[str, Any] | None:
    """``receipt`` if it is the receipt of ``tx_hash`` (or None: not mined). A node that answers
    with another transaction's (a batch's answers mixed up) is an error, never read as this one's:
    a reverted stranger would otherwise be taken as this anchor refused."""
    if receipt is None:
        return None
    if not isinstance(receipt, dict) or str(receipt.get("transactionHash", "")).lower() != tx_hash.lower():
        theirs = receipt.get("transactionHash") if isinstance(receipt, dict) else type(receipt).__name__
        raise ChainError(f"ledger answered the receipt of {tx_hash} with that of {theirs}")
    return receipt


class JsonRpc:
    """Plain JSON-RPC calls over one keep-alive HTTP connection per thread: the anchoring path's few
    hot calls (send, receipt, block time) without web3's formatting and middleware on every call."""

    def __init__(self, url: str, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChainError(f"ledger URL {url!r} is not http(s)://host[:port][/path]")
        self.url, self.timeout = url, timeout
        self._connection = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        self._host, self._port, self._path = parts.hostname, parts.port, parts.path or "/"
        self._local = threading.local()
        self._ids = itertools.count(1)

    def __call__(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        return self._result(method, self._parsed(method, self._post(body)))

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one JSON-RPC batch request (one round trip); their results in order.
        Any call's error fails the batch, as one call's would."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        body = json.dumps(
            [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls, strict=True)]
        )
        method = f"a batch of {calls[0][0]}"
        answers = self._parsed(method, self._post(body))
        if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
            raise ChainError(f"ledger answered {method} with {type(answers).__name__}, not a list of responses")
        by_id = {a.get("id"): a for a in answers}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise ChainError(f"ledger answered {method} without {len(missing)} of its {len(ids)} responses")
        return [self._result(m, by_id[i]) for i, (m, _) in zip(ids, calls, strict=True)]

    def _post(self, body: str) -> bytes:
        for attempt in (1, 2):  # a kept-alive connection the node has since closed: once more on a new one
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = self._connection(self._host, self._port, timeout=self.timeout)
            try:
                conn.request("POST", self._path, body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                self._local.conn = None
                if attempt == 2 or not isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError)):
                    raise LedgerUnavailable(f"ledger at {self.url} is unreachable: {exc}") from exc
        return raw

    @staticmethod
    def _parsed(method: str, raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ChainError(f"ledger answered {method} with no JSON") from exc

    @staticmethod
    def _result(method: str, answer: Any) -> Any:
        if not isinstance(answer, dict):
            raise ChainError(f"ledger answered {method} with {type(answer).__name__}, not a JSON-RPC response")
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {"message": str(answer["error"])}
            raise ChainError(f"ledger refused {method}: {error.get('message')}")
        return answer.get("result")


class LedgerClient:
    """Read access to a deployment, and the decoding every sender shares (a receipt's logs as anchors)."""

    def __init__(self, url: str, deployment: Deployment, *, timeout: float = 30.0):
        self.url = url
        self.deployment = deployment
        self.w3 = connect(url, timeout)
        if self.w3.eth.chain_id != deployment.chain_id:
            raise ChainError(f"ledger at {url} is chain {self.w3.eth.chain_id}, expected {deployment.chain_id}")
        contract = self.w3.eth.contract  # the two contracts, named as in contracts/*.vy
        self.agency_registry = contract(address=deployment.registry, abi=artifacts.load("AgencyRegistry")["abi"])
        self.handoff_ledger = contract(address=deployment.ledger, abi=artifacts.load("HandoffLedger")["abi"])
        self._timestamps: dict[int, int] = {}
        self.rpc = JsonRpc(url, timeout)
        self._orders: bool | None = None  # whether the ledger contract has anchor_after (read once)

    def orders_anchors(self) -> bool:
        """Whether the deployed HandoffLedger has ``anchor_after`` (a deployment made before it was
        added has not): its function selector is among the runtime code's dispatch constants."""
        if self._orders is None:
            code = self.rpc("eth_getCode", self.deployment.ledger, "latest") or "0x"
            self._orders = ANCHOR_AFTER_SELECTOR.hex() in code.lower()
        return self._orders

    # reading ---------------------------------------------------------------------------------
    def anchored_at(self, handoff_hash: str) -> int:
        return self.handoff_ledger.functions.anchored_at(from_hex(handoff_hash, "handoff hash")).call()

    def anchor_of(self, handoff_hash: str) -> Anchor | None:
        found = self._anchors({"handoff": from_hex(handoff_hash, "handoff hash")})
        return found[0] if found else None

    def anchors_for_case(self, commitment: str) -> list[Anchor]:
        return self._anchors({"case_commitment": from_hex(commitment, "case commitment")})

    def all_anchors(self) -> list[Anchor]:
        return self._anchors(None)

    def anchors_of(self, handoff_hashes: list[str]) -> dict[str, Anchor]:
        """The single anchors of any of these handoffs, read in one eth_getLogs (topics OR-ed)."""
        if not handoff_hashes:
            return {}
        found = self._anchors({"handoff": [from_hex(h, "handoff hash") for h in handoff_hashes]})
        return {a.handoff: a for a in found}

    # batches ---------------------------------------------------------------------------------
    def batch_anchored_at(self, root: str) -> int:
        return self.handoff_ledger.functions.batch_anchored_at(from_hex(root, "batch root")).call()

    def batch_of(self, root: str) -> BatchAnchor | None:
        """The BatchAnchored event of a Merkle root, or None if the root was never anchored."""
        found = self._batches({"root": from_hex(root, "batch root")})
        return found[0] if found else None

    def all_batches(self) -> list[BatchAnchor]:
        return self._batches(None)

    def _batches(self, filters: dict[str, Any] | None) -> list[BatchAnchor]:
        logs = self.handoff_ledger.events.BatchAnchored().get_logs(
            argument_filters=filters, from_block=self.deployment.block, to_block="latest"
        )
        return [self.batch_anchor(log) for log in logs]

    def batch_anchor(self, log) -> BatchAnchor:
        """A decoded BatchAnchored log (from get_logs or a receipt) as a BatchAnchor."""
        return BatchAnchor(
            root=to_hex(log.args.root),
            agency=to_hex(log.args.agency),
            count=log.args.count,
            account=log.args.account,
            tx_hash=to_hex(log.transactionHash),
            block_number=log.blockNumber,
            block_hash=to_hex(log.blockHash),
            log_index=log.logIndex,
            timestamp=self.block_timestamp(log.blockNumber),
        )

    def _anchors(self, filters: dict[str, Any] | None) -> list[Anchor]:
        logs = self.handoff_ledger.events.HandoffAnchored().get_logs(
            argument_filters=filters, from_block=self.deployment.block, to_block="latest"
        )
        return [self.anchor_from_log(log) for log in logs]

    def anchor_from_log(self, log) -> Anchor:
        """A decoded HandoffAnchored log (from get_logs or a receipt) as an Anchor."""
        return Anchor(
            handoff=to_hex(log.args.handoff),
            agency=to_hex(log.args.agency),
            case_commitment=to_hex(log.args.case_commitment),
            step=to_hex(log.args.step),
            account=log.args.account,
            tx_hash=to_hex(log.transactionHash),
            block_number=log.blockNumber,
            block_hash=to_hex(log.blockHash),
            log_index=log.logIndex,
            timestamp=self.block_timestamp(log.blockNumber),
        )

    def block_timestamps(self, numbers: set[int]) -> None:
        """Read the timestamps of these blocks not read yet, in one batch request."""
        missing = sorted(n for n in numbers if n not in self._timestamps)
        blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing])
        for n, block in zip(missing, blocks, strict=True):
            if block is not None:
                self._timestamps[n] = int(block["timestamp"], 16)

    def block_timestamp(self, number: int) -> int:
        if number not in self._timestamps:
            block = self.rpc("eth_getBlockByNumber", hex(number), False)
            if block is None:
                raise ChainError(f"ledger has no block {number}")
            if len(self._timestamps) > 10_000:
                self._timestamps.clear()
            self._timestamps[number] = int(block["timestamp"], 16)
        return self._timestamps[number]

    def anchor_from_raw_receipt(self, receipt: dict[str, Any], handoff_hash: str) -> Anchor | None:
        """The HandoffAnchored log of ``handoff_hash`` in a receipt as eth_getTransactionReceipt
        returns it (hex strings), read by the event's layout: three indexed topics, then step and
        account as two 32-byte words of data. None if the receipt holds no such log."""
        wanted = "0x" + HANDOFF_ANCHORED.hex()
        for log in receipt.get("logs", []):
            topics = [t.lower() for t in log.get("topics", [])]
            if (
                log.get("address", "").lower() != self.deployment.ledger.lower()
                or len(topics) != 4
                or topics[0] != wanted
                or topics[1] != handoff_hash.lower()
            ):
                continue
            data = from_hex(log["data"], "log data")
            if len(data) != 64:
                raise ChainError(f"a HandoffAnchored log of {len(data)} data bytes, not 64")
            block = int(log["blockNumber"], 16)
            return Anchor(
                handoff=topics[1],
                agency=topics[2],
                case_commitment=topics[3],
                step=to_hex(data[:32]),
                account=Web3.to_checksum_address(data[44:64]),
                tx_hash=log["transactionHash"].lower(),
                block_number=block,
                block_hash=log["blockHash"].lower(),
                log_index=int(log["logIndex"], 16),
                timestamp=self.block_timestamp(block),
            )
        return None

    # confirming what was sent -------------------------------------------------------------------
    def tx_known(self, tx_hash: str) -> bool:
        """Whether the ledger holds the transaction, pending in its pool or mined (a ledger that
        restarted may have lost what was pending)."""
        return self.rpc("eth_getTransactionByHash", tx_hash) is not None

    def receipts(self, tx_hashes: list[str]) -> list[dict[str, Any] | None]:
        """The receipts of these transactions as they are now (None: not mined), in one batch request."""
        answers = self.rpc.batch([("eth_getTransactionReceipt", [h]) for h in tx_hashes])
        return [_receipt_of(h, r) for h, r in zip(tx_hashes, answers, strict=True)]

    def receipt_now(self, tx_hash: str) -> dict[str, Any] | None:
        """The transaction's receipt as it is now (None: not mined); the embedded node holds the
        request of a transaction in its pool until its block is sealed."""
        return _receipt_of(tx_hash, self.rpc("eth_getTransactionReceipt", tx_hash))

    def receipt(self, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
        """Poll for the receipt at once, then more and more slowly: the embedded node holds a poll
        for a transaction in its pool until the block is sealed (one request, ``chain.node.rpc``);
        Besu and anvil answer null until then, and are asked again after 20, 30, 45... ms (100 ms apart at most)."""
        deadline, pause = time.monotonic() + timeout, 0.02
        while True:
            receipt = self.receipt_now(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise AnchorTimeout(f"no receipt for {tx_hash} after {timeout}s")
            time.sleep(pause)
            pause = min(pause * 1.5, 0.1)

    def revert_reason(self, call: dict[str, Any], block: int) -> str:
        """Why ``call`` reverted, replayed on the state before ``block``."""
        try:
            self.w3.eth.call(call, block - 1)
        except ContractLogicError as exc:
            return str(exc.message or exc).removeprefix("execution reverted: ")
        except Web3RPCError as exc:
            return str(exc)
        return "transaction reverted"

    def confirm_anchor(
        self, tx_hash: str, handoff_hash: str, timeout: float = 60.0, receipt: dict[str, Any] | None = None
    ) -> Anchor | None:
        """The handoff's anchor once ``tx_hash`` (sent by any agency) is mined: from its receipt,
        or, when it reverted because the handoff was anchored before (a retried send), the anchor
        there is. None when the ledger holds neither the transaction nor an anchor of the handoff
        (lost from a pool); AnchorRefused when the contract refused it for another reason.
        ``receipt``: the transaction's, already read (in a batch)."""
        if receipt is None:
            receipt = self.receipt_now(tx_hash)
        if receipt is None:
            if not self.tx_known(tx_hash):
                return self.anchor_of(handoff_hash)
            receipt = self.receipt(tx_hash, timeout)
        return self.anchor_in(receipt, handoff_hash)

    def anchor_in(self, receipt: dict[str, Any], handoff_hash: str) -> Anchor:
        """The handoff's anchor from the receipt of a transaction anchoring it, or the one there
        was already if it reverted for that reason; AnchorRefused for any other reason."""
        if int(receipt["status"], 16) == 1:  # the receipt carries the event: no need to read it back
            anchor = self.anchor_from_raw_receipt(receipt, handoff_hash)
            if anchor is not None:
                return anchor
        else:
            tx = self.rpc("eth_getTransactionByHash", receipt["transactionHash"]) or {}
            call = {  # replayed as its sender sent it
                "from": Web3.to_checksum_address(tx.get("from") or receipt["from"]),
                "to": Web3.to_checksum_address(tx.get("to") or self.deployment.ledger),
                "data": tx.get("input"),
                "gas": int(tx.get("gas", "0x0"), 16),
            }
            reason = self.revert_reason(call, int(receipt["blockNumber"], 16))
            if "already anchored" not in reason:
                raise AnchorRefused(reason)
        for _ in range(50):  # anchored before: the receipt is final; the log index may lag on a foreign node
            anchor = self.anchor_of(handoff_hash)
            if anchor is not None:
                return anchor
            time.sleep(0.05)
        raise ChainError(f"handoff {handoff_hash} was mined but its anchor event is not readable")

    def signer_schedule(self, agency: str, block: int | None = None) -> tuple[int, SignerSchedule]:
        """(the block read at: ``block``, else the head; the agency's signing keys there, with any
        rotation scheduled), for an agency worker to know which of its keys the registry accepts."""
        if block is None:
            block = int(self.rpc("eth_blockNumber"), 16)
        signer, next_signer, next_from = self.agency_registry.functions.signer_schedule(agency_id(agency)).call(
            block_identifier=block
        )
        if int(signer, 16) == 0:
            raise ChainError(f"{agency} is not a registered agency at block {block}")
        pending = next_signer if int(next_signer, 16) else None
        return block, SignerSchedule(signer, pending, next_from if pending else 0)

    def signer_changed(self, agency: str, after_block: int, through_block: int) -> bool:
        """Whether the agency's signer schedule changed in blocks (after_block, through_block]: a
        SignerRotated event there (the only thing that changes it). One indexed log query, where
        reading the schedule at a past block would rebuild that block's state."""
        return bool(self.signer_rotations(after_block, through_block, agency))

    def signer_rotations(self, after_block: int, through_block: int, agency: str | None = None) -> set[tuple[str, int]]:
        """Every SignerRotated event in blocks (after_block, through_block], of ``agency`` or of
        any, as (agency id, block): in one indexed log query."""
        if through_block <= after_block:
            return set()
        topics = [to_hex(SIGNER_ROTATED)] + ([to_hex(agency_id(agency))] if agency else [])
        logs = self.rpc(  # raw: only the topics and blocks are needed
            "eth_getLogs",
            {
                "fromBlock": hex(after_block + 1),
                "toBlock": hex(through_block),
                "address": self.agency_registry.address,
                "topics": topics,
            },
        )
        return {(log["topics"][1].lower(), int(log["blockNumber"], 16)) for log in logs}

    def registry_events(self) -> list[dict[str, Any]]:
        """Every registry change in chain order: the auditor replays these to know which
        account and signer were valid for which agency at which block."""
        events: list[dict[str, Any]] = []
        for name in (
            "AgencyRegistered",
            "AccountRotated",
            "SignerRotated",
            "AgencySuspended",
            "AgencyReinstated",
            "StepAssigned",
        ):
            event = getattr(self.agency_registry.events, name)
            for log in event().get_logs(from_block=self.deployment.block, to_block="latest"):
                args = {k: (to_hex(v) if isinstance(v, bytes) else v) for k, v in log.args.items()}
                events.append({"event": name, "block_number": log.blockNumber, "log_index": log.logIndex, **args})
        events.sort(key=lambda e: (e["block_number"], e["log_index"]))
        return events


class Sender:
    """One account that sends transactions: keeps its nonce, signs locally, waits for receipts.
    As an agency's Anchorer (``chain.anchors``), one transaction per handoff.

    Thread-safe: an agency worker runs several activities at once on one account.
    """

    def __init__(self, ledger: LedgerClient, private_key: bytes, *, receipt_timeout: float = 60.0):
        self.ledger = ledger
        self.w3 = ledger.w3
        self.account = Account.from_key(private_key)
        self.address = self.account.address
        self.receipt_timeout = receipt_timeout
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._fees: tuple[float, dict[str, int]] | None = None  # (read at, fee fields)

    def send(self, call, gas: int) -> dict[str, Any]:
        """Sign and send a contract call; return its receipt once mined (status 1), or raise
        AnchorRefused with the contract's reason (status 0), or AnchorTimeout."""
        with self._lock:
            if self._nonce is None:
                self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
            tx = call.build_transaction(
                {
                    "from": self.address,
                    "nonce": self._nonce,
                    "gas": gas,
                    "chainId": self.ledger.deployment.chain_id,
                    **fees(self.w3),
                }
            )
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            except Web3RPCError as exc:
                self._nonce = None  # resynchronise from the node on the next send
                raise ChainError(f"ledger refused the transaction: {exc}") from exc
            self._nonce += 1
        receipt = self.wait(tx_hash)
        if receipt["status"] != 1:
            call = {k: tx[k] for k in ("from", "to", "data", "gas")}
            raise AnchorRefused(self._revert_reason(call, receipt["blockNumber"]))
        return receipt

    def wait(self, tx_hash) -> dict[str, Any]:
        try:
            return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout, poll_latency=0.02)
        except TimeExhausted as exc:
            raise AnchorTimeout(f"no receipt for {to_hex(tx_hash)} after {self.receipt_timeout}s") from exc

    def _revert_reason(self, call: dict[str, Any], block: int) -> str:
        return self.ledger.revert_reason(call, block)

    # anchoring: the hot path, in plain JSON-RPC ------------------------------------------------
    def anchor(self, handoff_hash: str, flow: str, step: str, case_commitment: str) -> Anchor:
        """Anchor one handoff, exactly once: the contract refuses a second anchor of a handoff, so a
        retry (after a crash between send and receipt) reads back the one anchor there is."""
        tx_hash = self.send_anchor(handoff_hash, flow, step, case_commitment)
        return self.ledger.anchor_in(self._raw_receipt(tx_hash), handoff_hash)

    def send_anchor(self, handoff_hash: str, flow: str, step: str, case_commitment: str) -> str:
        """Send the transaction anchoring one handoff and return its hash once the ledger took it
        into its pool, without waiting for its block (``confirm_anchor`` does). A transaction sent
        later from any account comes after it in the ledger's order while it is pending."""
        return self._send(
            self.ledger.deployment.ledger,
            ANCHOR_SELECTOR + _anchor_args(handoff_hash, flow, step, case_commitment),
            ANCHOR_GAS,
        )

    def send_anchor_after(self, handoff_hash: str, flow: str, step: str, case_commitment: str, after: list[str]) -> str:
        """As ``send_anchor``, through ``anchor_after``: the contract anchors it only if each handoff
        of ``after`` (anchored singly) is anchored already, earlier in its block or before; so it
        can be sent while theirs are pending and never goes before them (else it reverts)."""
        if len(after) > MAX_AFTER:
            raise ValueError(f"an anchor follows at most {MAX_AFTER} handoffs, not {len(after)}")
        data = ANCHOR_AFTER_SELECTOR + _anchor_args(handoff_hash, flow, step, case_commitment)
        data += (128).to_bytes(32, "big") + len(after).to_bytes(32, "big")  # the array's offset, length, items
        data += b"".join(from_hex(h, "handoff hash") for h in after)
        return self._send(self.ledger.deployment.ledger, data, ANCHOR_GAS + ANCHOR_AFTER_GAS * len(after))

    def transact(self, to: str, data: bytes, gas: int) -> dict[str, Any]:
        """Sign and send a call of ``data`` to ``to`` with the cached nonce and fees; return the raw
        receipt once mined (status 1), or raise AnchorRefused with the contract's reason (status 0)."""
        return self._mined(self._send(to, data, gas), to, data, gas)

    def _mined(self, tx_hash: str, to: str, data: bytes, gas: int) -> dict[str, Any]:
        """The raw receipt of a sent call once mined (status 1), or AnchorRefused with its reason."""
        receipt = self._raw_receipt(tx_hash)
        if int(receipt["status"], 16) != 1:
            call = {"from": self.address, "to": to, "data": to_hex(data), "gas": gas}
            raise AnchorRefused(self._revert_reason(call, int(receipt["blockNumber"], 16)))
        return receipt

    def _send(self, to: str, data: bytes, gas: int) -> str:
        """Sign a call of ``data`` to ``to`` with the cached nonce and fees, send it, and return its
        hash once the ledger took it."""
        rpc = self.ledger.rpc
        with self._lock:
            if self._nonce is None:
                self._nonce = int(rpc("eth_getTransactionCount", self.address, "pending"), 16)
            tx = {
                "type": 2,
                "chainId": self.ledger.deployment.chain_id,
                "nonce": self._nonce,
                "to": to,
                "value": 0,
                "data": data,
                "gas": gas,
                **self._fee_fields(),
            }
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = rpc("eth_sendRawTransaction", to_hex(signed.raw_transaction))
            except ChainError as exc:  # refused, or unreachable after it may have arrived: re-read both
                self._nonce, self._fees = None, None
                if isinstance(exc, LedgerUnavailable):
                    raise
                raise ChainError(f"ledger refused the transaction: {exc}") from exc
            self._nonce += 1
        return tx_hash

    def _fee_fields(self) -> dict[str, int]:
        now = time.monotonic()
        if self._fees is None or now - self._fees[0] > FEES_FOR_S:
            latest = self.ledger.rpc("eth_getBlockByNumber", "latest", False) or {}
            base = int(latest.get("baseFeePerGas") or "0x0", 16)
            tip = TIP if base else 0
            self._fees = (now, {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip})
        return self._fees[1]

    def _raw_receipt(self, tx_hash: str) -> dict[str, Any]:
        return self.ledger.receipt(tx_hash, self.receipt_timeout)

    def close(self) -> None:
        """Nothing to finish: each anchor() returned only once its transaction was mined, and the
        connection belongs to the LedgerClient, which other clients may share."""


# deployment and administration ---------------------------------------------------------------
def _deploy(w3: Web3, account, name: str, *args: Any, chain_id: int) -> tuple[str, int]:
    art = artifacts.load(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(*args).build_transaction(
        {
            "from": account.address,
            "nonce": w3.eth.get_transaction_count(account.address, "pending"),
            "gas": DEPLOY_GAS,
            "chainId": chain_id,
            **fees(w3),
        }
    )
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.02)
    if receipt["status"] != 1:
        raise ChainError(f"deployment of {name} failed in block {receipt['blockNumber']}")
    return receipt["contractAddress"], receipt["blockNumber"]


def deploy(url: str, admin_key: bytes) -> Deployment:
    """Deploy the registry and the ledger from the admin account."""
    w3 = connect(url)
    chain_id = w3.eth.chain_id
    admin = Account.from_key(admin_key)
    registry, block = _deploy(w3, admin, "AgencyRegistry", chain_id=chain_id)
    ledger, _ = _deploy(w3, admin, "HandoffLedger", registry, chain_id=chain_id)
    return Deployment(chain_id=chain_id, registry=registry, ledger=ledger, block=block)


class Admin(Sender):
    """The registry's admin account: agency membership and step ownership are on-chain events."""

    def register_agency(self, name: str, account: str, signer: str) -> None:
        self.register_agencies([(name, account, signer)])

    def assign_step(self, flow: str, step: str, agency: str) -> None:
        self.assign_steps([(flow, step, agency)])

    def register_agencies(self, agencies: list[tuple[str, str, str]]) -> None:
        """Register each (name, account, signer) in as few blocks as the ledger packs them: every
        transaction is sent before any is waited for (the nonces keep their order)."""
        calls = [("register_agency", [agency_id(n), n, account, signer]) for n, account, signer in agencies]
        self._registry_calls(calls)

    def assign_steps(self, steps: list[tuple[str, str, str]]) -> None:
        """Assign each (flow, step) to its agency, sent together as ``register_agencies``."""
        self._registry_calls([("assign_step", [step_id(f, s), agency_id(a)]) for f, s, a in steps])

    def _registry_calls(self, calls: list[tuple[str, list[Any]]]) -> None:
        """Send every call to the registry, then wait for each; the first refused raises
        AnchorRefused with the contract's reason (the ones after it were still sent and mined)."""
        registry = self.ledger.agency_registry
        sent = [(registry.address, from_hex(registry.encode_abi(name, args=args), "call data")) for name, args in calls]
        hashes = [self._send(to, data, ADMIN_GAS) for to, data in sent]
        for tx_hash, (to, data) in zip(hashes, sent, strict=True):
            self._mined(tx_hash, to, data, ADMIN_GAS)

    def rotate_signer(self, agency: str, new_signer: str, effective_block: int | None = None) -> int:
        """Schedule ``new_signer`` to take over the agency's signing from ``effective_block`` (by
        default ROTATION_BLOCKS after the head); both keys sign until then. Returns that block."""
        if effective_block is None:
            effective_block = self.w3.eth.block_number + ROTATION_BLOCKS
        fn = self.ledger.agency_registry.functions.rotate_signer(agency_id(agency), new_signer, effective_block)
        self.send(fn, ADMIN_GAS)
        return effective_block

    def rotate_account(self, agency: str, new_account: str) -> None:
        self.send(self.ledger.agency_registry.functions.rotate_account(agency_id(agency), new_account), ADMIN_GAS)

    def suspend_agency(self, agency: str) -> None:
        self.send(self.ledger.agency_registry.functions.suspend_agency(agency_id(agency)), ADMIN_GAS)

    def agency_record(self, agency: str) -> tuple[str, str, bool]:
        r = self.ledger.agency_registry.functions
        aid = agency_id(agency)
        return r.account_of(aid).call(), r.signer_of(aid).call(), r.is_active(aid).call()

    def fund(self, address: str, wei: int) -> None:
        """Give a newly admitted account gas money (the chain charges fees)."""
        with self._lock:
            nonce = self.w3.eth.get_transaction_count(self.address, "pending")
            tx = {
                "to": address,
                "value": wei,
                "gas": 21_000,
                "nonce": nonce,
                "chainId": self.ledger.deployment.chain_id,
                **fees(self.w3),
            }
            tx_hash = self.w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
            self._nonce = None
        self.wait(tx_hash)


__all__ = ["Admin", "LedgerClient", "Sender", "connect", "deploy"]
