"""Batch anchoring: many handoffs of one agency, one ``anchor_batch(root, count)`` transaction.

``AnchorBatcher`` is an Anchorer (``chain.anchors``), as ``Sender`` is: its ``anchor`` blocks
until the handoff's batch is anchored; the Anchor it returns carries the batch's event (tx, block,
log, account) and the handoff's leaf index, the batch size and its inclusion proof
(``chain.merkle``; the leaf is ``handoff hash || step id || case commitment``).

Exactly once, what the journal (SQLite, in the agency's directory) guarantees:
  - a handoff joins at most one batch, ever: its row (handoff -> root, index, leaf) is written,
    with the whole batch, before the transaction is sent; every new batch looks its handoffs up
    there first (one query per batch) and answers the known ones from their own batch; in the
    process, a handoff is in at most one open or in-flight batch until its row is committed;
  - a handoff already anchored alone (e.g. before the worker switched to batches) is not batched:
    each batch asks the ledger for single anchors of its handoffs first (one eth_getLogs);
  - a batch whose receipt never came (crash, timeout) is re-driven by its root, on the next call
    for any of its handoffs and when the batcher starts: if ``BatchAnchored`` for the root is on
    the ledger it is taken from there, else the same root is sent again; the contract refuses a
    root anchored twice ("batch already anchored"), which is recognised as success.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from web3.logs import DISCARD

from chain.anchors import Anchor, BatchAnchor
from chain.batch import anchor_in_batch
from chain.batch import leaf as batch_leaf
from chain.client import ANCHOR_GAS, Sender
from chain.errors import AnchorRefused, AnchorTimeout, ChainError, ChainValueError
from chain.hexid import from_hex, to_hex
from chain.merkle import Tree


class BatchJournal:
    """Which batch each handoff is in, and which batches are anchored (thread-safe)."""

    def __init__(self, path: Path | None):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a file, or a shared in-memory database; lookups get their own connection, so that they
        # never wait behind a batch's write and fsync (WAL: readers see every committed batch)
        where = str(path) if path else f"file:batches-{id(self)}?mode=memory&cache=shared"
        self._db = sqlite3.connect(where, uri=path is None, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a batch must be on disk before its transaction is sent
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS batches (root TEXT PRIMARY KEY, size INTEGER NOT NULL, "
            "event TEXT, created REAL NOT NULL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS leaves (handoff TEXT PRIMARY KEY, root TEXT NOT NULL, "
            "idx INTEGER NOT NULL, leaf BLOB NOT NULL)"
        )
        self._reader = sqlite3.connect(where, uri=path is None, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()

    def find(self, handoff: str) -> tuple[str, bytes] | None:
        """(root, leaf) of the batch the handoff is in, if any."""
        return self.find_many([handoff]).get(handoff)

    def find_many(self, handoffs: list[str]) -> dict[str, tuple[str, bytes]]:
        found: dict[str, tuple[str, bytes]] = {}
        with self._read_lock:
            for i in range(0, len(handoffs), 500):
                chunk = handoffs[i : i + 500]
                rows = self._reader.execute(
                    f"SELECT handoff, root, leaf FROM leaves WHERE handoff IN ({','.join('?' * len(chunk))})", chunk
                )
                found.update((h, (root, bytes(leaf))) for h, root, leaf in rows)
        return found

    def add(self, root: str, entries: list[tuple[str, bytes]]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO batches (root, size, created) VALUES (?, ?, ?)", (root, len(entries), time.time())
                )
                self._db.executemany(
                    "INSERT INTO leaves VALUES (?, ?, ?, ?)",
                    [(h, root, i, leaf) for i, (h, leaf) in enumerate(entries)],
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def batch(self, root: str) -> tuple[list[tuple[str, bytes]], BatchAnchor | None]:
        """The batch's (handoff, leaf) entries in leaf order and its event once anchored."""
        with self._lock:
            rows = self._db.execute("SELECT handoff, leaf FROM leaves WHERE root=? ORDER BY idx", (root,)).fetchall()
            ev = self._db.execute("SELECT event FROM batches WHERE root=?", (root,)).fetchone()
        event = BatchAnchor.model_validate_json(ev[0]) if ev and ev[0] else None
        return [(h, bytes(leaf)) for h, leaf in rows], event

    def anchored(self, event: BatchAnchor) -> None:
        with self._lock:
            self._db.execute("UPDATE batches SET event=? WHERE root=?", (event.model_dump_json(), event.root))

    def unanchored(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT root FROM batches WHERE event IS NULL ORDER BY created")]

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()


def batch_anchors(event: BatchAnchor, entries: list[tuple[str, bytes]], tree: Tree | None = None) -> dict[str, Anchor]:
    """Each handoff's Anchor in an anchored batch: the batch's event plus its own leaf and proof."""
    tree = tree or Tree([leaf for _, leaf in entries])
    return {
        h: anchor_in_batch(event, h, leaf, i, len(entries), [to_hex(p) for p in tree.proof(i)])
        for i, (h, leaf) in enumerate(entries)
    }


class AnchorBatcher:
    """Collects handoffs from many threads; anchors up to ``max_batch`` of them per transaction,
    a batch closing when full or ``max_wait_s`` after its first handoff, with up to
    ``max_in_flight`` transactions awaiting receipts at once (handoffs keep gathering meanwhile)."""

    def __init__(
        self,
        sender: Sender,
        journal: Path | None = None,
        *,
        max_batch: int = 256,
        max_wait_s: float = 0.05,
        max_in_flight: int = 4,
        on_batch: Callable[[int], None] | None = None,
    ):
        """``on_batch(n)``: told the size of each batch this batcher anchors (for a metric)."""
        if max_batch < 1 or max_in_flight < 1 or max_wait_s < 0:
            raise ChainValueError("max_batch and max_in_flight must be positive, max_wait_s not negative")
        self.sender = sender
        self.ledger = sender.ledger
        self.max_batch, self.max_wait_s, self.max_in_flight = max_batch, max_wait_s, max_in_flight
        self.on_batch = on_batch
        self.timeout = 2 * sender.receipt_timeout + max_wait_s + 30
        self.journal = BatchJournal(journal)
        self._cond = threading.Condition()
        self._open: list[tuple[str, bytes]] = []
        self._opened_at = 0.0
        self._waiting: dict[str, Future] = {}  # handoff -> its Anchor, while its batch is open or in flight
        self._recovering: set[str] = set()
        self._in_flight = 0
        self._closed = False
        self._pool = ThreadPoolExecutor(max_in_flight + 1, thread_name_prefix="anchor-batch")
        self._flusher = threading.Thread(target=self._flush_loop, name="anchor-batcher", daemon=True)
        self._flusher.start()
        for root in self.journal.unanchored():  # batches a crash left without a receipt
            with self._cond:
                self._recover(root)

    # the caller's side -------------------------------------------------------------------------
    def anchor(self, handoff_hash: str, flow: str, step: str, case_commitment: str) -> Anchor:
        """Anchor one handoff (in the next batch) and return its Anchor once the batch is mined."""
        future = self.submit(handoff_hash, flow, step, case_commitment)
        try:
            return future.result(self.timeout)
        except TimeoutError as exc:
            raise AnchorTimeout(f"handoff {handoff_hash} was not anchored within {self.timeout:.0f}s") from exc

    def submit(self, handoff_hash: str, flow: str, step: str, case_commitment: str) -> Future:
        """Hand a handoff over without blocking; the future resolves to its Anchor."""
        h = handoff_hash.lower()
        leaf = batch_leaf(h, flow, step, case_commitment.lower())
        with self._cond:
            if self._closed:
                raise ChainError("the anchor batcher is closed")
            future = self._waiting.get(h)  # the same handoff twice at once shares one future
            if future is None:
                future = self._waiting[h] = Future()
                if not self._open:
                    self._opened_at = time.monotonic()
                self._open.append((h, leaf))
                self._cond.notify_all()
            return future

    def close(self) -> None:
        """Anchor what is gathered, wait for batches in flight, stop."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._flusher.join()
        self._pool.shutdown(wait=True)
        self.journal.close()

    # the batcher's side ------------------------------------------------------------------------
    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._open and not self._closed:
                    self._cond.wait()
                if not self._open:
                    return
                while not self._closed:
                    left = self._opened_at + self.max_wait_s - time.monotonic()
                    slot = self._in_flight < self.max_in_flight
                    if slot and (left <= 0 or len(self._open) >= self.max_batch):
                        break
                    self._cond.wait(left if slot and left > 0 else 0.5)
                batch, self._open = self._open[: self.max_batch], self._open[self.max_batch :]
                self._opened_at = time.monotonic()
                self._in_flight += 1
            self._pool.submit(self._run, self._new_batch, batch, [h for h, _ in batch])

    def _recover(self, root: str) -> None:
        """Re-drive a journaled batch that has no event yet (caller holds the lock)."""
        if root in self._recovering:
            return
        entries, _ = self.journal.batch(root)
        for h, _leaf in entries:
            self._waiting.setdefault(h, Future())
        self._recovering.add(root)
        self._in_flight += 1
        self._pool.submit(self._run, self._resume_batch, root, [h for h, _ in entries])

    def _fail(self, handoffs: list[str], exc: BaseException) -> None:
        for h in handoffs:
            fut = self._waiting.get(h)
            if fut is not None and not fut.done():
                fut.set_exception(exc)

    def _run(self, job, arg, handoffs: list[str]) -> None:
        try:
            job(arg)
        except BaseException as exc:  # every waiter hears it; the journal keeps the batch to re-drive
            self._fail(handoffs, exc)
        finally:
            with self._cond:
                for h in handoffs:
                    self._waiting.pop(h, None)
                if isinstance(arg, str):
                    self._recovering.discard(arg)
                self._in_flight -= 1
                self._cond.notify_all()

    def _new_batch(self, batch: list[tuple[str, bytes]]) -> None:
        # (1) a handoff the journal knows (a retry, a redelivery) is answered from its own batch
        # (looked up once per batch: one query per handoff would cost more than all the rest)
        known = self.journal.find_many([h for h, _ in batch])
        roots: dict[str, list[str]] = {}
        for h, leaf in batch:
            if h in known:
                if known[h][1] != leaf:
                    self._fail([h], ChainValueError(f"handoff {h} is already batched for another step or case"))
                else:
                    roots.setdefault(known[h][0], []).append(h)
        for root, members in roots.items():
            try:
                self._resume_batch(root)
            except Exception as exc:
                self._fail(members, exc)
        # (2) a handoff anchored alone already is never anchored again
        fresh = [(h, leaf) for h, leaf in batch if h not in known]
        singles = self.ledger.anchors_of([h for h, _ in fresh])
        for h, anchor in singles.items():
            self._waiting[h].set_result(anchor)
        entries = [(h, leaf) for h, leaf in fresh if h not in singles]
        if not entries:
            return
        # (3) journal the batch before its transaction exists; (4) anchor its root
        tree = Tree([leaf for _, leaf in entries])
        root = to_hex(tree.root)
        self.journal.add(root, entries)
        self._settle(self._send(root, len(entries)), entries, tree)
        if self.on_batch is not None:
            try:
                self.on_batch(len(entries))
            except Exception:  # noqa: BLE001 - a metric never fails an anchor that stands
                pass

    def _resume_batch(self, root: str) -> None:
        entries, event = self.journal.batch(root)
        if event is None:
            event = self.ledger.batch_of(root) or self._send(root, len(entries))
        self._settle(event, entries, None)

    def _settle(self, event: BatchAnchor, entries: list[tuple[str, bytes]], tree: Tree | None) -> None:
        if event.account.lower() != self.sender.address.lower():
            raise AnchorRefused(f"batch {event.root} was anchored from {event.account}, not from this agency's account")
        self.journal.anchored(event)
        for h, anchor in batch_anchors(event, entries, tree).items():
            fut = self._waiting.get(h)
            if fut is not None and not fut.done():
                fut.set_result(anchor)

    def _send(self, root: str, count: int) -> BatchAnchor:
        fn = self.ledger.handoff_ledger.functions.anchor_batch(from_hex(root, "batch root"), count)
        try:
            receipt = self.sender.send(fn, ANCHOR_GAS)
        except AnchorRefused as exc:
            if "batch already anchored" not in str(exc):
                raise
            event = self.ledger.batch_of(root)  # a re-sent root: the first transaction won
            if event is None:
                raise ChainError(f"batch {root} is anchored but its event is not readable") from exc
            return event
        logs = self.ledger.handoff_ledger.events.BatchAnchored().process_receipt(receipt, errors=DISCARD)
        if not logs:
            raise ChainError(f"batch {root} was mined without a BatchAnchored event")
        return self.ledger.batch_anchor(logs[0])


__all__ = ["AnchorBatcher", "BatchJournal", "batch_anchors"]
