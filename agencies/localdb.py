"""An agency's own SQLite file (its journal, its simulated back-end): WAL, autocommit, one lock.

synchronous=FULL: what is written here (a signed handoff, a licence issued) is not written again
by Temporal after a power cut, so a commit is on disk before the activity reports success."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_local(path: Path, *schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    for statement in schema:
        db.execute(statement)
    return db
