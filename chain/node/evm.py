"""py-evm glue: the chain class, genesis, building one block from many transactions, calls."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import Chain, MiningChain
from eth.constants import POST_MERGE_DIFFICULTY, POST_MERGE_MIX_HASH, POST_MERGE_NONCE
from eth.vm.forks import PragueVM
from eth.vm.spoof import SpoofTransaction
from eth_utils import ValidationError, to_canonical_address, to_checksum_address

from chain.node.trie import make_trie_root_and_nodes

VM_CLASS = PragueVM
DEFAULT_GAS_LIMIT = 60_000_000


def genesis_for(
    accounts: dict[str, int],
    allowlist: list[str] | tuple[str, ...] | None = None,
    chain_id: int = 1337,
    gas_limit: int = DEFAULT_GAS_LIMIT,
) -> dict[str, Any]:
    """The genesis dict the node takes (``--genesis FILE`` holds it as JSON)."""
    return {
        "chain_id": chain_id,
        "gas_limit": gas_limit,
        "alloc": {addr: str(int(wei)) for addr, wei in accounts.items()},
        "allowlist": list(allowlist if allowlist is not None else accounts.keys()),
    }


def normalize_genesis(genesis: dict[str, Any]) -> dict[str, Any]:
    """Canonical form: lowercase addresses, integer balances, sorted allowlist."""
    try:
        out: dict[str, Any] = {
            "chain_id": int(genesis["chain_id"]),
            "gas_limit": int(genesis.get("gas_limit", DEFAULT_GAS_LIMIT)),
            "alloc": {
                to_checksum_address(a).lower(): int(v, 0) if isinstance(v, str) else int(v)
                for a, v in (genesis.get("alloc") or {}).items()
            },
            "allowlist": sorted({to_checksum_address(a).lower() for a in genesis.get("allowlist") or []}),
        }
        for key in ("base_fee_per_gas", "timestamp"):
            if genesis.get(key) is not None:
                out[key] = int(genesis[key])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"invalid genesis: {exc!r}") from exc
    return out


class _NodeChainBase(MiningChain):
    vm_configuration = ((0, VM_CLASS),)

    def create_header_from_parent(self, parent_header, **header_params):  # type: ignore[override]
        header_params.setdefault("gas_limit", parent_header.gas_limit)
        return super().create_header_from_parent(parent_header, **header_params)


class _ReadChainBase(Chain):
    vm_configuration = ((0, VM_CLASS),)


def chain_classes(chain_id: int) -> tuple[type[MiningChain], type[Chain]]:
    mining = type("LedgerChain", (_NodeChainBase,), {"chain_id": chain_id})
    reading = type("LedgerReadChain", (_ReadChainBase,), {"chain_id": chain_id})
    return mining, reading


def create_genesis(chain_cls: type[MiningChain], evm_db, genesis: dict[str, Any]) -> MiningChain:
    params: dict[str, Any] = {
        "coinbase": b"\x00" * 20,
        "difficulty": POST_MERGE_DIFFICULTY,
        "extra_data": b"",
        "gas_limit": genesis["gas_limit"],
        "mix_hash": POST_MERGE_MIX_HASH,
        "nonce": POST_MERGE_NONCE,
        "timestamp": genesis.get("timestamp", int(time.time())),
    }
    if "base_fee_per_gas" in genesis:
        params["base_fee_per_gas"] = genesis["base_fee_per_gas"]
    state = {
        to_canonical_address(a): {"balance": wei, "nonce": 0, "code": b"", "storage": {}}
        for a, wei in genesis["alloc"].items()
    }
    return chain_cls.from_genesis(evm_db, params, state)


class BlockBuildError(RuntimeError):
    """py-evm failed on ``tx`` past validation: the block in progress is unusable."""

    def __init__(self, tx: SignedTransactionAPI, cause: BaseException):
        super().__init__(f"transaction {tx.hash.hex()} broke the block: {cause!r}")
        self.tx = tx


@dataclass
class BuiltBlock:
    block: BlockAPI
    receipts: list[ReceiptAPI]
    rejected: list[tuple[SignedTransactionAPI, str]] = field(default_factory=list)
    deferred: list[SignedTransactionAPI] = field(default_factory=list)


def build_block(chain: MiningChain, txs: list[SignedTransactionAPI]) -> BuiltBlock | None:
    """Apply ``txs`` on top of the canonical head in one block; tries are built once.

    A transaction py-evm refuses (nonce, balance, fee below base fee...) is left out and
    reported in ``rejected``; once the block's gas is used up the rest go to ``deferred``.
    Returns None when nothing could be included (no block is written then).
    """
    parent = chain.get_canonical_head()
    base_header = chain.create_header_from_parent(parent)
    vm = chain.get_vm(base_header)
    header = base_header
    included: list[SignedTransactionAPI] = []
    receipts: list[ReceiptAPI] = []
    rejected: list[tuple[SignedTransactionAPI, str]] = []
    deferred: list[SignedTransactionAPI] = []
    for i, tx in enumerate(txs):
        if header.gas_used + tx.gas > header.gas_limit:
            if tx.gas > header.gas_limit:
                rejected.append((tx, "exceeds block gas limit"))
                continue
            deferred.extend(txs[i:])
            break
        try:
            receipt, _computation = vm.apply_transaction(header, tx)
        except ValidationError as exc:
            # py-evm validates (header fit, nonce, balance, fees) before it touches the state,
            # so a refused transaction leaves nothing behind (a snapshot cannot be used here:
            # apply_transaction locks the journal's changes, dropping its checkpoints).
            rejected.append((tx, str(exc) or type(exc).__name__))
            continue
        except Exception as exc:
            raise BlockBuildError(tx, exc) from exc
        header = vm.add_receipt_to_header(header, receipt)
        header = vm.increment_blob_gas_used(header, tx)
        included.append(tx)
        receipts.append(receipt)
    if not included:
        return None
    # What MiningChain.mine_all does, with the ordered tries built once and bottom-up
    # (chain/node/trie.py) and without re-reading the block from its tries afterwards.
    tx_root, tx_nodes = make_trie_root_and_nodes(included)
    receipt_root, receipt_nodes = make_trie_root_and_nodes(receipts)
    vm.chaindb.persist_trie_data_dict(tx_nodes)
    vm.chaindb.persist_trie_data_dict(receipt_nodes)
    filled = vm.get_block().copy(
        transactions=included,
        header=header.copy(transaction_root=tx_root, receipt_root=receipt_root),
    )
    mined = vm.finalize_block(vm.pack_block(filled)).block
    vm.validate_header(mined.header, parent)
    chain.chaindb.persist_block(mined)
    chain.header = chain.create_header_from_parent(mined.header)
    return BuiltBlock(mined, receipts, rejected, deferred)


CALL_GAS_CAP = 2_000_000  # eth_call / eth_estimateGas: the block limit would be ~25 CPU-s for anyone who asks


def call_tx(read_chain: Chain, params: dict[str, Any], header) -> SpoofTransaction:
    """An unsigned transaction for eth_call / eth_estimateGas, spoofed to come from ``from``,
    with at most CALL_GAS_CAP gas (what our contracts' calls and deployments need, with room)."""
    vm = read_chain.get_vm(header)
    sender = to_canonical_address(params["from"]) if params.get("from") else b"\x00" * 20
    state = vm.state
    nonce = state.get_nonce(sender)
    gas = min(_int(params.get("gas")) or CALL_GAS_CAP, CALL_GAS_CAP)
    to = params.get("to")
    data = params.get("input") or params.get("data") or "0x"
    unsigned = vm.create_unsigned_transaction(
        nonce=nonce,
        gas_price=0,
        gas=min(gas, header.gas_limit),
        to=to_canonical_address(to) if to else b"",
        value=_int(params.get("value")),
        data=bytes.fromhex(data[2:]),
    )
    return SpoofTransaction(unsigned, from_=sender)


def _int(value: Any) -> int:
    if value is None:
        return 0
    return int(value, 16) if isinstance(value, str) else int(value)
