"""Schema migrations (gateway/migrate.py, alembic): a fresh store is built by them, a store of an
earlier revision is upgraded with every row kept, one made before migrations is stamped and
upgraded, processes starting together take turns, and `onevisit db upgrade` says where it is.
On SQLite here; test_store_postgres.py runs them on PostgreSQL too."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from sqlalchemy import create_engine, inspect, text

from gateway import migrate
from gateway.store import make_engine
from tests.fixtures.stack import ROOT


@pytest.fixture
def url(tmp_path, store_url) -> str:
    return store_url or f"sqlite:///{tmp_path / 'store.db'}"


def at_revision(url: str, revision: str):
    """A store built by the migrations up to ``revision`` only: an earlier release's store."""
    from alembic import command

    engine = create_engine(url)
    with engine.begin() as conn:
        command.upgrade(migrate.config(conn), revision)
    return engine


def some_rows(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("""INSERT INTO "user" (id, username, password_hash, role, created_at)
                             VALUES (1, 'applicant', 'x', 'applicant', '2026-12-01 10:00:00')""")
        )
        conn.execute(
            text("""INSERT INTO "case" (id, applicant_id, flow, title, flow_version, status, salt,
                             commitment, application_enc, result, created_at, updated_at, revision, snapshot)
                             VALUES ('BR-1', 1, 'business_registration', 't', 'v', 'completed', '0x', '0x', :enc,
                             '{}', '2026-12-01 10:00:00', '2026-12-01 10:00:00', 3, '{}')"""),
            {"enc": b"sealed"},
        )


def indexes(engine, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table)}


def test_a_fresh_store_is_built_by_the_migrations(url):
    engine = make_engine(url)
    assert migrate.current(engine) == migrate.head() == "0004"
    assert "ix_handoffrow_outcome" in indexes(engine, "handoffrow")
    assert "ix_residentbinding_user_id" in indexes(engine, "residentbinding")
    assert "ix_casenote_case_id" in indexes(engine, "casenote") and "erasure" in inspect(engine).get_table_names()


def test_a_store_of_the_previous_revision_is_upgraded_and_keeps_every_row(url):
    old = at_revision(url, "0001")
    some_rows(old)
    assert "ix_handoffrow_outcome" not in indexes(old, "handoffrow")
    engine = make_engine(url)
    assert migrate.current(engine) == "0004" and "ix_handoffrow_outcome" in indexes(engine, "handoffrow")
    with engine.connect() as conn:
        assert conn.execute(text('SELECT id, status, revision FROM "case"')).all() == [("BR-1", "completed", 3)]
        assert conn.execute(text('SELECT username FROM "user"')).all() == [("applicant",)]


def test_a_store_made_before_migrations_is_stamped_and_upgraded(url):
    old = at_revision(url, "0001")
    some_rows(old)
    with old.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))  # as the last release without migrations left it
    engine = make_engine(url)
    assert migrate.current(engine) == "0004"
    with engine.connect() as conn:
        assert conn.execute(text('SELECT count(*) FROM "case"')).scalar() == 1


def test_processes_starting_together_take_turns(url):
    errors: list[BaseException] = []

    def start() -> None:
        try:
            make_engine(url).dispose()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and migrate.current(create_engine(url)) == "0004"


def test_db_upgrade_says_where_the_store_is(url, tmp_path):
    at_revision(url, "0001")
    env = {"ONEVISIT_DATABASE_URL": url, "ONEVISIT_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "db", "upgrade"], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert (done.returncode, done.stdout) == (0, "the store is at revision 0004 (was 0001; newest 0004)\n")
