"""Schema migrations of the gateway's store (alembic, ``gateway/migrations/versions``), applied
whenever a process opens the store (``make_engine``: the gateway, the engine's worker, `up`) and
by ``onevisit db upgrade``.

A fresh database is built by the migrations; one made before migrations existed (its tables hold
every column of revision 0001) is stamped 0001 and upgraded; one that lacks columns is refused by
name. Processes that start together (the gateway and the engine's worker on a fresh store) take
turns: a file lock beside a SQLite database, an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

SCRIPTS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the schema of the last version without migrations
LOCK_ID = 7_270_001  # PostgreSQL advisory lock: one migrating process at a time


def config(connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    return ScriptDirectory.from_config(config(None)).get_current_head()  # type: ignore[arg-type]


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _file_turn(engine: Engine) -> Iterator[None]:
    """On SQLite, one process migrates at a time, holding a file lock until its work is committed:
    the others wait, then find the work done."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def upgrade(engine: Engine, check_baseline) -> str:
    """Bring the store to the newest revision; returns it. ``check_baseline(conn)`` raises for a
    database from before migrations that is not the baseline schema (see ``store.check_schema``)."""
    with _file_turn(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # the same on PostgreSQL: held until this commits
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
        revision = MigrationContext.configure(conn).get_current_revision()
        tables = set(inspect(conn).get_table_names()) - {"alembic_version"}
        cfg = config(conn)
        if revision is None and tables:  # made before migrations: the baseline, or refused
            check_baseline(conn)
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, "head")
        return MigrationContext.configure(conn).get_current_revision() or ""
