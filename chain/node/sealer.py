"""The pending pool and the sealer thread, the only code that touches the writable py-evm chain.

Submission checks run on the caller's thread against committed state (see ``LedgerNode.reader``);
the sealer thread waits up to ``block_time`` after the first pending transaction, builds one
block from up to ``max_block_txs`` transactions and commits it with its index rows in one SQLite
transaction. Block times are whole seconds and each is later than its parent's, so a burst of
blocks runs ahead of the clock: by MAX_LEAD_S at most, after which the sealer makes one block a
second (each holding what arrived meanwhile) until the clock catches up. Receipts are served
from the index, so they exist only once the block is on disk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from eth.abc import SignedTransactionAPI

from chain.node import index
from chain.node.db import Store
from chain.node.evm import BlockBuildError, build_block

log = logging.getLogger("chain.node.sealer")
MAX_LEAD_S = 300  # how far block times may run ahead of the clock: the skew the auditor allows (CLOCK_SKEW_S)


class Sealer:
    def __init__(
        self,
        store: Store,
        chain_factory: Callable[[], object],
        block_time: float = 0.01,
        max_block_txs: int = 500,
        on_sealed: Callable[[int], None] | None = None,
    ):
        self.store = store
        self._chain_factory = chain_factory
        self.chain = chain_factory()
        self.head_header = self.chain.get_canonical_head()  # committed head, set under lock
        self.block_time = block_time
        self.max_block_txs = max_block_txs
        self.on_sealed = on_sealed
        self.lock = threading.Condition()  # guards everything below
        self.pending: list[SignedTransactionAPI] = []
        self.pending_by_hash: dict[bytes, SignedTransactionAPI] = {}
        self.next_nonce: dict[bytes, int] = {}  # senders with txs pending or being sealed
        self.inflight: dict[bytes, int] = {}
        self.dropped: OrderedDict[bytes, str] = OrderedDict()
        self._first_pending_at: float | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.sealed_blocks = 0
        self.seal_times: list[tuple[int, float]] = []  # (txs, seconds) of recent blocks
        self.last_error: str | None = None

    # ---- submission (caller's thread, with self.lock held by the caller) ---------------------

    def add(self, tx: SignedTransactionAPI, sender: bytes) -> None:
        """Queue a validated transaction (self.lock held)."""
        self.pending.append(tx)
        self.pending_by_hash[tx.hash] = tx
        self.next_nonce[sender] = tx.nonce + 1
        self.inflight[sender] = self.inflight.get(sender, 0) + 1
        if self._first_pending_at is None:
            self._first_pending_at = time.monotonic()
        self.lock.notify_all()

    # ---- thread ------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ledger-sealer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        with self.lock:
            self._stopping = True
            self.lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _take_batch(self) -> list[SignedTransactionAPI] | None:
        with self.lock:
            while True:
                if self.pending:
                    if self._stopping:
                        break
                    wait = (
                        0.0
                        if len(self.pending) >= self.max_block_txs
                        else self._first_pending_at + self.block_time - time.monotonic()
                    )
                    # a block's time is whole seconds, each after its parent's: while blocks come
                    # faster than one a second their times run ahead of the clock, by MAX_LEAD_S at most
                    wait = max(wait, self.head_header.timestamp + 1 - MAX_LEAD_S - time.time())
                    if wait <= 0:
                        break
                    self.lock.wait(wait)
                elif self._stopping:
                    return None
                else:
                    self.lock.wait()
            batch = self.pending[: self.max_block_txs]
            self.pending = self.pending[self.max_block_txs :]
            self._first_pending_at = time.monotonic() if self.pending else None
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            try:
                self.seal(batch)
            except Exception as exc:  # never let the sealer die
                log.exception("sealing failed")
                self.last_error = repr(exc)
                time.sleep(0.05)

    def seal(self, batch: list[SignedTransactionAPI]) -> None:
        """Build and commit one block from ``batch`` (sealer thread only)."""
        started = time.perf_counter()
        built = None
        try:
            built = build_block(self.chain, batch)
            if built is None:
                self.store.kv.discard()
            else:
                with self.store.write_txn() as conn:
                    index.write_block(conn, built.block, built.receipts)
        except Exception as exc:
            self.store.kv.discard()
            self.chain = self._chain_factory()  # drop py-evm's in-memory view of the failed block
            if isinstance(exc, BlockBuildError) and len(batch) > 1:
                # drop the culprit alone and build the block again without it
                self._finish([exc.tx], [], [(exc.tx, str(exc))])
                self.seal([tx for tx in batch if tx is not exc.tx])
                return
            self._finish(batch, [], [(tx, f"block failed: {exc!r}") for tx in batch])
            raise
        if built is None:
            self._finish(batch, [], [(tx, "refused by the EVM") for tx in batch])
            return
        self.sealed_blocks += 1
        elapsed = time.perf_counter() - started
        self.seal_times.append((len(built.block.transactions), elapsed))
        del self.seal_times[:-1000]
        log.debug("sealed block %d with %d txs in %.3fs", built.block.number, len(built.block.transactions), elapsed)
        self._finish(batch, built.deferred, built.rejected, built.block.header)
        if self.on_sealed is not None:
            self.on_sealed(built.block.number)

    def _finish(self, batch, deferred, rejected, header=None) -> None:
        with self.lock:
            if header is not None:
                self.head_header = header
            deferred_hashes = {tx.hash for tx in deferred}
            for tx, reason in rejected:
                log.warning("dropped tx %s: %s", tx.hash.hex(), reason)
                self.dropped[tx.hash] = reason
                while len(self.dropped) > 10_000:
                    self.dropped.popitem(last=False)
            for tx in batch:
                if tx.hash in deferred_hashes:
                    continue
                self.pending_by_hash.pop(tx.hash, None)
                sender = tx.sender
                left = self.inflight.get(sender, 1) - 1
                if left <= 0:
                    self.inflight.pop(sender, None)
                    self.next_nonce.pop(sender, None)
                else:
                    self.inflight[sender] = left
            if deferred:
                self.pending = list(deferred) + self.pending
                if self._first_pending_at is None:
                    self._first_pending_at = time.monotonic()
            self.lock.notify_all()
