"""An agency's own SQLite file (its journal, its simulated back-end): WAL, autocommit, one lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_local(path: Path, *schema: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    for statement in schema:
        db.execute(statement)
    return db
