"""LedgerNode: storage, genesis, allowlist, submission, sealer and HTTP server in one object."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rlp
from cryptography.hazmat.primitives import serialization
from eth.constants import SECPK1_N
from eth.db.atomic import AtomicDB
from eth.rlp.accounts import Account
from eth.vm.forks.london.headers import calculate_expected_base_fee_per_gas
from eth_hash.auto import keccak
from trie import HexaryTrie

from chain.node import index
from chain.node.db import KVStore, Store
from chain.node.errors import INVALID_PARAMS, NOT_AUTHORIZED, TX_REJECTED, RpcError
from chain.node.evm import VM_CLASS, chain_classes, create_genesis, normalize_genesis
from chain.node.rpcutil import allowlist_address
from chain.node.sealer import Sealer
from chain.node.server import serve

log = logging.getLogger("chain.node")


class GenesisMismatch(RuntimeError):
    pass


class LedgerNode:
    """A permissioned py-evm node persisted in ``data_dir`` (one SQLite file)."""

    def __init__(
        self,
        data_dir: str | Path,
        genesis: dict[str, Any] | None = None,
        block_time: float = 0.01,
        max_block_txs: int = 500,
        synchronous: str = "FULL",
    ):
        self.data_dir = Path(data_dir)
        self.store = Store(self.data_dir, synchronous=synchronous)
        try:
            self.genesis = self._open_genesis(genesis)
        except BaseException:
            self.store.close()
            raise
        self.chain_id: int = self.genesis["chain_id"]
        self._mining_cls, self._read_cls = chain_classes(self.chain_id)
        self._tx_builder = VM_CLASS.get_transaction_builder()
        self._allow_lock = threading.Lock()
        self._accounts: OrderedDict[tuple[bytes, bytes], tuple[int, int]] = OrderedDict()
        self.allowlist: set[str] = {r[0] for r in self.store.writer.execute("SELECT address FROM allowlist")}
        with self.store.read() as conn:
            self.head = index.head_number(conn)
        self.sealer = Sealer(
            self.store,
            lambda: self._mining_cls(self.store.evm_db),
            block_time=block_time,
            max_block_txs=max_block_txs,
            on_sealed=self._on_sealed,
        )
        self._server = None
        self._admin_server = None
        self.url: str | None = None
        self.admin_url: str | None = None
        self._started = False

    # ---- genesis -----------------------------------------------------------------------------

    def _open_genesis(self, genesis: dict[str, Any] | None) -> dict[str, Any]:
        stored = self.store.get_meta("genesis")
        given = normalize_genesis(genesis) if genesis is not None else None
        if stored is not None:
            stored_g = json.loads(stored)
            if given is not None and given != stored_g:
                raise GenesisMismatch(
                    f"genesis given differs from the one stored in {self.store.path}; "
                    "refusing to start (use a fresh --data-dir or the original genesis)"
                )
            return stored_g
        if given is None:
            raise ValueError(f"no chain in {self.data_dir}: a genesis is required to create one")
        mining_cls, _ = chain_classes(given["chain_id"])
        chain = create_genesis(mining_cls, self.store.evm_db, given)
        block0 = chain.get_canonical_block_by_number(0)
        with self.store.write_txn() as conn:
            index.write_block(conn, block0, [])
            conn.execute("INSERT INTO meta (k, v) VALUES ('genesis', ?)", (json.dumps(given, sort_keys=True),))
            conn.executemany("INSERT OR IGNORE INTO allowlist (address) VALUES (?)", [(a,) for a in given["allowlist"]])
        return given

    def _on_sealed(self, number: int) -> None:
        self.head = number

    # ---- reads -------------------------------------------------------------------------------

    @contextmanager
    def reader(self) -> Iterator[tuple[Any, Any]]:
        """(sqlite connection, py-evm read-only chain) over one snapshot of committed data."""
        with self.store.read() as conn:
            yield conn, self._read_cls(AtomicDB(KVStore(conn, writable=False)))

    # ---- allowlist ---------------------------------------------------------------------------

    def is_allowed(self, address: bytes) -> bool:
        return index.hb(address) in self.allowlist

    def change_allowlist(self, addresses: list[str], add: bool) -> None:
        norm = [allowlist_address(a) for a in addresses]
        with self._allow_lock:
            with self.store.admin_write() as conn:
                if add:
                    conn.executemany("INSERT OR IGNORE INTO allowlist (address) VALUES (?)", [(a,) for a in norm])
                else:
                    conn.executemany("DELETE FROM allowlist WHERE address=?", [(a,) for a in norm])
            self.allowlist = (self.allowlist | set(norm)) if add else (self.allowlist - set(norm))

    # ---- submission --------------------------------------------------------------------------

    def _account(self, address: bytes) -> tuple[int, int]:
        """(nonce, balance) at the committed head; caller holds the sealer lock."""
        root = self.sealer.head_header.state_root
        key = (root, address)
        found = self._accounts.get(key)
        if found is None:
            with self.store.read() as conn:
                raw = HexaryTrie(KVStore(conn, writable=False), root).get(keccak(address))
            if raw:
                account = rlp.decode(raw, sedes=Account)
                found = (account.nonce, account.balance)
            else:
                found = (0, 0)
            self._accounts[key] = found
            while len(self._accounts) > 10_000:
                self._accounts.popitem(last=False)
        return found

    def send_raw_transaction(self, raw: bytes) -> bytes:
        try:
            tx = self._tx_builder.decode(raw)
            if (tx.type_id or 0) > 2:
                raise ValueError(f"transaction type {tx.type_id} is not accepted here")
            tx.validate()
            if not (0 < tx.r < SECPK1_N and 0 < tx.s <= SECPK1_N // 2):
                raise ValueError("signature r/s out of range")
            if tx.gas < tx.intrinsic_gas:
                raise ValueError(f"intrinsic gas too low: gas {tx.gas}, needs {tx.intrinsic_gas}")
            sender = tx.sender  # recovers the key; raises on a bad signature
        except Exception as exc:
            raise RpcError(INVALID_PARAMS, f"invalid transaction: {exc}") from exc
        if tx.chain_id is None:
            raise RpcError(INVALID_PARAMS, "only replay-protected (EIP-155) transactions are accepted")
        if tx.chain_id != self.chain_id:
            raise RpcError(INVALID_PARAMS, f"invalid chain id {tx.chain_id}, this chain is {self.chain_id}")
        if not self.is_allowed(sender):
            raise RpcError(NOT_AUTHORIZED, "Sender account not authorized to send transactions")
        max_fee = tx.max_fee_per_gas if tx.type_id == 2 else tx.gas_price
        with self.sealer.lock:
            head = self.sealer.head_header
            if tx.hash in self.sealer.pending_by_hash:
                raise RpcError(TX_REJECTED, "known transaction")
            with self.store.read() as conn:
                if index.get_tx(conn, tx.hash) is not None:
                    raise RpcError(TX_REJECTED, "known transaction")
            if tx.gas > head.gas_limit:
                raise RpcError(TX_REJECTED, f"exceeds block gas limit {head.gas_limit}")
            base_fee = calculate_expected_base_fee_per_gas(head)
            if max_fee < base_fee:
                raise RpcError(TX_REJECTED, f"max fee per gas less than block base fee: {max_fee} < {base_fee}")
            state_nonce, balance = self._account(sender)
            expected = self.sealer.next_nonce.get(sender, state_nonce)
            if tx.nonce < expected:
                raise RpcError(TX_REJECTED, f"nonce too low: next nonce {expected}, tx nonce {tx.nonce}")
            if tx.nonce > expected:
                raise RpcError(TX_REJECTED, f"nonce too high: next nonce {expected}, tx nonce {tx.nonce}")
            cost = tx.gas * max_fee + tx.value
            if balance < cost:
                raise RpcError(
                    TX_REJECTED, f"insufficient funds for gas * price + value: balance {balance}, tx cost {cost}"
                )
            self.sealer.add(tx, sender)
        return tx.hash

    def pending_nonce(self, address: bytes) -> int:
        """State nonce plus the sender's pending transactions (read under the pool lock, so a
        block committed meanwhile cannot make the answer stale)."""
        with self.sealer.lock:
            nonce = self.sealer.next_nonce.get(address)
            return nonce if nonce is not None else self._account(address)[0]

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        admin_port: int | None = None,
        admin_public_key: bytes | None = None,
    ) -> str:
        """Serve the public JSON-RPC on host:port; with ``admin_public_key`` (PEM) also the admin
        interface (perm_*) on 127.0.0.1:admin_port, every call needing a JWT that key verifies.
        Without it the allowlist cannot be changed over the network at all."""
        if self._started:
            return self.url  # type: ignore[return-value]
        self.sealer.start()
        self._server, self.url = serve(self, host, port)
        if admin_public_key is not None:
            key = serialization.load_pem_public_key(admin_public_key)
            self._admin_server, self.admin_url = serve(self, "127.0.0.1", admin_port or 0, admin_key=key)
        self._started = True
        return self.url

    def stop(self) -> None:
        """Stop serving, seal whatever is pending, close the database."""
        for server in (self._server, self._admin_server):
            if server is not None:
                server.shutdown()
                server.server_close()
        self._server = self._admin_server = None
        self.sealer.stop()
        self.store.close()
        self._started = False

    def __enter__(self) -> LedgerNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
