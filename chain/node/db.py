"""SQLite storage for the ledger node: py-evm's key/value data plus the index tables.

One file, WAL mode. The writer (the sealer thread) buffers every py-evm write in memory and
flushes it in ONE transaction per sealed block together with that block's index rows, so a
block is either fully on disk or not at all. Readers use their own connections and see only
committed data, which is what makes "a receipt is only served once its block is durable" hold.
"""

from __future__ import annotations

import fcntl
import queue
import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

DB_FILE = "ledger.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS blocks (
    number INTEGER PRIMARY KEY, hash BLOB NOT NULL UNIQUE, header TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS txs (
    hash BLOB PRIMARY KEY, block INTEGER NOT NULL, idx INTEGER NOT NULL,
    tx TEXT NOT NULL, receipt TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS txs_block ON txs (block, idx);
CREATE TABLE IF NOT EXISTS logs (
    block INTEGER NOT NULL, log_index INTEGER NOT NULL, address BLOB NOT NULL,
    t0 BLOB, t1 BLOB, t2 BLOB, t3 BLOB, log TEXT NOT NULL,
    PRIMARY KEY (block, log_index)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS logs_address ON logs (address, block);
CREATE INDEX IF NOT EXISTS logs_t0 ON logs (t0, block);
CREATE INDEX IF NOT EXISTS logs_t1 ON logs (t1, block);
CREATE INDEX IF NOT EXISTS logs_t2 ON logs (t2, block);
CREATE INDEX IF NOT EXISTS logs_t3 ON logs (t3, block);
CREATE TABLE IF NOT EXISTS allowlist (address TEXT PRIMARY KEY);
"""


def connect(path: Path, synchronous: str = "FULL") -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def init_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)


class DataDirInUse(RuntimeError):
    pass


class KVStore(BaseDB):
    """py-evm's key/value data in table ``kv``.

    Writes go to an in-memory buffer (``None`` marks a deletion) until ``flush``; reads look in
    the buffer first, then in a small LRU cache, then in SQLite. Read-only stores (for reader
    connections) refuse writes; py-evm's read paths never write.
    """

    def __init__(self, conn: sqlite3.Connection, writable: bool = True, cache_size: int = 50_000):
        self._conn = conn
        self._writable = writable
        self._buf: dict[bytes, bytes | None] = {}
        self._cache: OrderedDict[bytes, bytes] = OrderedDict()
        self._cache_size = cache_size if writable else 0

    def _load(self, key: bytes) -> bytes | None:
        if self._cache_size:
            value = self._cache.get(key)
            if value is not None:
                self._cache.move_to_end(key)
                return value
        row = self._conn.execute("SELECT v FROM kv WHERE k=?", (key,)).fetchone()
        if row is None:
            return None
        value = bytes(row[0])
        if self._cache_size:
            self._cache[key] = value
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._buf:
            value = self._buf[key]
        else:
            value = self._load(key)
        if value is None:
            raise KeyError(key)
        return value

    def _exists(self, key: bytes) -> bool:
        if key in self._buf:
            return self._buf[key] is not None
        return self._load(key) is not None

    def __setitem__(self, key: bytes, value: bytes) -> None:
        if not self._writable:
            raise TypeError("read-only ledger store")
        self._buf[bytes(key)] = bytes(value)

    def __delitem__(self, key: bytes) -> None:
        if not self._writable:
            raise TypeError("read-only ledger store")
        if not self._exists(key):
            raise KeyError(key)
        self._buf[bytes(key)] = None

    @property
    def pending_writes(self) -> int:
        return len(self._buf)

    def write_buffer(self, cur: sqlite3.Connection) -> None:
        """Write the buffer with ``cur`` (inside the caller's transaction)."""
        puts = [(k, v) for k, v in self._buf.items() if v is not None]
        dels = [(k,) for k, v in self._buf.items() if v is None]
        if puts:
            cur.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", puts)
        if dels:
            cur.executemany("DELETE FROM kv WHERE k=?", dels)

    def committed(self) -> None:
        """The buffer is on disk: move it into the read cache."""
        if self._cache_size:
            for k, v in self._buf.items():
                if v is None:
                    self._cache.pop(k, None)
                else:
                    self._cache[k] = v
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._buf.clear()

    def discard(self) -> None:
        self._buf.clear()


class Store:
    """The database file: one writer connection (sealer thread) and a pool of readers."""

    def __init__(self, data_dir: Path, synchronous: str = "FULL", readers: int = 8):
        self.path = Path(data_dir) / DB_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # one node per data directory; the OS drops the lock when the process dies (kill -9)
        self._lock_file = open(self.path.parent / "ledger.lock", "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock_file.close()
            raise DataDirInUse(f"{data_dir} is in use by another ledger node") from exc
        self.writer = connect(self.path, synchronous)
        init_schema(self.writer)
        self.kv = KVStore(self.writer)
        self.evm_db = AtomicDB(self.kv)
        self._synchronous = synchronous
        self._readers: queue.Queue[sqlite3.Connection] = queue.Queue()
        self._all_readers: list[sqlite3.Connection] = []
        for _ in range(readers):
            self._new_reader()

    def _new_reader(self) -> None:
        conn = connect(self.path, self._synchronous)
        self._all_readers.append(conn)
        self._readers.put(conn)

    def get_meta(self, key: str, conn: sqlite3.Connection | None = None) -> str | None:
        row = (conn or self.writer).execute("SELECT v FROM meta WHERE k=?", (key,)).fetchone()
        return None if row is None else row[0]

    @contextmanager
    def write_txn(self) -> Iterator[sqlite3.Connection]:
        """One atomic transaction on the writer: the buffered py-evm writes plus whatever the
        caller adds. On error everything (buffer included) is dropped."""
        conn = self.writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            self.kv.write_buffer(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.kv.discard()
            raise
        self.kv.committed()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A reader connection holding one consistent snapshot of committed data."""
        conn = self._readers.get()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        finally:
            self._readers.put(conn)

    @contextmanager
    def admin_write(self) -> Iterator[sqlite3.Connection]:
        """A small transaction outside the sealer (allowlist changes)."""
        conn = self._readers.get()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._readers.put(conn)

    def close(self) -> None:
        for conn in self._all_readers:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        try:
            self.writer.close()
        except sqlite3.Error:
            pass
        if not self._lock_file.closed:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
